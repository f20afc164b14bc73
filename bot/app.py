"""Composition root: build the aiohttp application from Settings. Nothing connects at import."""

from __future__ import annotations

import asyncio
import logging
import signal
from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import timedelta

import httpx
from aiohttp import web

from bot import autoship, config
from bot.catalog import Catalog
from bot.config import Settings
from bot.ordering import OrderService
from bot.parsing import ParserService
from bot.scheduler import build_scheduler, running
from bot.shipping import Waybills
from bot.tracking import TrackingService
from bot.trackview import TrackingPageConfig
from handlers import api, carrier_push, console, ops, pages, wecom_callback
from handlers.chat.setup import build_dispatcher
from handlers.keys import DISPATCHER, SERVICE, SETTINGS, WAYBILLS
from integrations.carriers.registry import enabled_clients, status_report
from integrations.carriers.sandbox import SandboxCarrier
from integrations.wecom import MemoryTokenCache, WeComClient
from integrations.wecom_crypto import AppCrypto, BotCrypto
from storage import carriers as storage_carriers
from storage import db
from storage.models import Product

log = logging.getLogger(__name__)


CONFIG_PATH = web.AppKey("config_path", str)


def build(settings: Settings, *, load_demo_if_empty: bool = True, manage_db: bool = True,
          config_path: str | None = None) -> web.Application:
    """The whole web application. With manage_db=False the caller owns the database."""
    app = web.Application(client_max_size=settings.max_body_bytes,
                          middlewares=[ops.metrics_middleware, api.errors_middleware])
    app[SETTINGS] = settings
    app[ops.METRICS] = ops.Metrics()
    catalog = Catalog(settings)
    service = OrderService(settings, catalog)
    app[SERVICE] = service
    app[DISPATCHER] = build_dispatcher(service, ParserService(catalog))
    app[CONFIG_PATH] = config_path or ""
    tracking = _tracking(app, settings)
    app[WAYBILLS] = Waybills({c: client for c, client in tracking.clients.items()
                              if c in settings.carriers})
    if manage_db:
        app.cleanup_ctx.append(_database(settings, load_demo_if_empty))
        app.cleanup_ctx.append(_scheduler(tracking, settings))
    app.on_startup.append(_reload_on_sighup)
    app[pages.TRACKING] = TrackingPageConfig.from_settings(settings)
    app.add_routes(ops.routes)
    app.add_routes(api.routes)
    app.add_routes(pages.routes)
    if sandbox_mode(settings):
        app.add_routes(console.routes)
    _wecom(app, settings)
    return app


def _tracking(app: web.Application, settings: Settings) -> TrackingService:
    """Carrier clients whose keys are set, the sandbox for SBX waybills, the push route."""
    http = httpx.AsyncClient(timeout=10)
    app.on_cleanup.append(lambda _: http.aclose())
    tracking = TrackingService(settings, enabled_clients(settings, http))
    tracking.clients["sandbox"] = SandboxCarrier(speed=tracking.config.sandbox_speed,
                                                 trips=tracking.sandbox_trips)
    app[carrier_push.TRACKING] = tracking
    app.add_routes(carrier_push.routes)
    return tracking


def _scheduler(tracking: TrackingService, settings: Settings):  # type: ignore[no-untyped-def]
    """The tracking sweep and stuck-shipment check (after the database is up)."""
    async def ctx(app: web.Application) -> AsyncIterator[None]:
        auto = None
        if not live_carriers(settings) & set(settings.carriers):
            delay = timedelta(minutes=settings.auto_ship_minutes)
            auto = asyncio.create_task(autoship.run(app[SERVICE], app[WAYBILLS], delay))
            log.info("sandbox: confirmed orders ship by themselves after %s", delay)
        async with running(build_scheduler(tracking, settings)):
            yield
        if auto is not None:
            auto.cancel()

    return ctx


WECOM_API = "https://qyapi.weixin.qq.com"


def _wecom(app: web.Application, settings: Settings) -> None:
    """Mount the WeCom callbacks whose credentials are configured (each one says so)."""
    env = {k: v.value for k, v in settings.env.items()}
    client = app_crypto = bot_crypto = None
    needed = ("WECOM_CORP_ID", "WECOM_AGENT_ID", "WECOM_SECRET", "WECOM_TOKEN", "WECOM_AES_KEY")
    if all(env.get(k) for k in needed):
        http = httpx.AsyncClient(timeout=10)
        app.on_cleanup.append(lambda _: http.aclose())
        client = WeComClient(http, env.get("WECOM_API_BASE") or WECOM_API, env["WECOM_CORP_ID"],
                             env["WECOM_SECRET"], env["WECOM_AGENT_ID"], MemoryTokenCache())
        app_crypto = AppCrypto(env["WECOM_TOKEN"], env["WECOM_AES_KEY"], env["WECOM_CORP_ID"])
        log.info("WeCom app callback enabled at /wecom/callback")
    else:
        log.info("WeCom app callback disabled: set %s", ", ".join(needed))
    if env.get("WECOM_BOT_TOKEN") and env.get("WECOM_BOT_AES_KEY"):
        bot_crypto = BotCrypto(env["WECOM_BOT_TOKEN"], env["WECOM_BOT_AES_KEY"])
        log.info("WeCom robot callback enabled at /wecom/aibot")
    else:
        log.info("WeCom robot callback disabled: set WECOM_BOT_TOKEN, WECOM_BOT_AES_KEY")
    wecom_callback.register(app, client, app_crypto, bot_crypto)


def live_carriers(settings: Settings) -> set[str]:
    """Carriers with keys configured (DESIGN.md §5: enabled exactly when its keys are set)."""
    return {code for code, text in status_report(settings).items() if text == "已启用"}


def sandbox_mode(settings: Settings) -> bool:
    """No WeCom credentials: the local console stands in for WeCom."""
    return not ({"WECOM_CORP_ID", "WECOM_SECRET"} <= set(settings.env))


def reload_config(app: web.Application) -> bool:
    """Re-read config.toml (and the environment) into the running services.

    A config with an error is refused and logged; the running rules stay in force.
    """
    try:
        new = config.load(app[CONFIG_PATH] or None)
    except config.ConfigError as exc:
        log.error("config reload refused, keeping the running rules: %s", exc)
        return False
    old = app[SERVICE].settings
    new = replace(new, db_url=old.db_url)  # the database is not switched under a running app
    app[SERVICE].apply_settings(new)
    log.info("config reloaded from %s", new.source)
    return True


async def _reload_on_sighup(app: web.Application) -> None:
    try:
        asyncio.get_running_loop().add_signal_handler(signal.SIGHUP, reload_config, app)
    except (NotImplementedError, RuntimeError):  # not the main thread, or no signals here
        log.info("config reload on SIGHUP not available in this process")


def _database(settings: Settings, load_demo_if_empty: bool):  # type: ignore[no-untyped-def]
    async def ctx(app: web.Application) -> AsyncIterator[None]:
        await db.init(settings.db_url)
        if load_demo_if_empty and not await Product.exists():
            from bot.demo import load_demo

            log.info("empty database: loading the demo data set")
            counts = await load_demo(settings)
            log.info("demo data loaded: %s", counts)
        await storage_carriers.sync(settings.carriers, live_carriers(settings))
        yield
        await db.close()

    return ctx
