"""Composition root: build the aiohttp application from Settings. Nothing connects at import."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator

from aiohttp import web

from bot.catalog import Catalog
from bot.config import Settings
from bot.ordering import OrderService
from handlers import api, ops
from handlers.keys import SERVICE, SETTINGS, WAYBILLS
from integrations.carriers import sandbox
from storage import db
from storage.models import Product

log = logging.getLogger(__name__)


def build(settings: Settings, *, load_demo_if_empty: bool = True, manage_db: bool = True
          ) -> web.Application:
    """The whole web application. With manage_db=False the caller owns the database."""
    app = web.Application(client_max_size=settings.max_body_bytes,
                          middlewares=[ops.metrics_middleware, api.errors_middleware])
    app[SETTINGS] = settings
    app[ops.METRICS] = ops.Metrics()
    catalog = Catalog(settings)
    app[SERVICE] = OrderService(settings, catalog)
    app[WAYBILLS] = sandbox.issue_waybill
    if manage_db:
        app.cleanup_ctx.append(_database(settings, load_demo_if_empty))
    app.add_routes(ops.routes)
    app.add_routes(api.routes)
    return app


def _database(settings: Settings, load_demo_if_empty: bool):  # type: ignore[no-untyped-def]
    async def ctx(app: web.Application) -> AsyncIterator[None]:
        await db.init(settings.db_url)
        if load_demo_if_empty and not await Product.exists():
            from bot.demo import load_demo

            log.info("empty database: loading the demo data set")
            counts = await load_demo(settings)
            log.info("demo data loaded: %s", counts)
        yield
        await db.close()

    return ctx
