"""Composition root: build the aiohttp application from Settings. Nothing connects at import."""

from __future__ import annotations

import asyncio
import logging
import signal
from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import httpx
from aiohttp import web

from bot import alerts, autoship, calibration, config
from bot.catalog import Catalog
from bot.config import Settings
from bot.domain import couriers
from bot.ordering import OrderService
from bot.parsing import ParserService
from bot.ratelimit import Limiter
from bot.scheduler import build_scheduler, running
from bot.shipping import ShippingService
from bot.tracking import TrackingService
from bot.trackview import TrackingPageConfig
from handlers import (
    api,
    auth,
    carrier_push,
    console,
    dashboard,
    edge,
    ops,
    pages,
    wecom_callback,
    wecom_inbox,
)
from handlers.chat.setup import build_dispatcher
from handlers.chat.views import ChatLinks
from handlers.keys import DISPATCHER, NOTIFIER, OUTBOX, SERVICE, SETTINGS, SHIPPING
from integrations import wecom
from integrations.carriers import registry
from integrations.carriers.base import DEFAULT_TIMEOUT
from integrations.carriers.sandbox import SandboxCarrier
from integrations.http import DEFAULTS, Bulkhead, Pools
from integrations.wecom import WeComClient
from integrations.wecom_crypto import AppCrypto, BotCrypto
from messages import delivery, outbox_admin, render
from messages.notify import NotifyConfig
from messages.outbox import OutboxDispatcher
from storage import carriers as storage_carriers
from storage import db, meta
from storage.models import Product

log = logging.getLogger(__name__)


CONFIG_PATH = web.AppKey("config_path", str)
POOLS = web.AppKey("http_pools", Pools)


def build(settings: Settings, *, load_demo_if_empty: bool = True, manage_db: bool = True,
          config_path: str | None = None, pools: Pools | None = None) -> web.Application:
    """The whole web application. With manage_db=False the caller owns the database (and
    runs the outbox dispatcher and the scheduler, if it wants them)."""
    app = web.Application(client_max_size=settings.max_body_bytes,
                          middlewares=[ops.metrics_middleware, edge.edge_middleware,
                                       api.errors_middleware, auth.api_auth_middleware])
    app[SETTINGS] = settings
    app[edge.EDGE] = edge.Edge.from_settings(settings)
    app[auth.KEYS] = auth.KeyCache(Limiter(settings.limits.api_per_key))
    app[ops.METRICS] = ops.Metrics()
    app[CONFIG_PATH] = config_path or ""
    app[pages.TRACKING] = TrackingPageConfig.from_settings(settings)
    # one pool, concurrency limit and deadline per outside system ([http.X] in the config)
    pools = pools or Pools({**DEFAULTS, **{name: Bulkhead(c, d)
                                           for name, (c, d) in settings.http.items()}})
    app[POOLS] = pools
    app.on_cleanup.append(lambda _: pools.aclose())
    wecom_client = _wecom_client(settings, pools.get("wecom"))
    notifier, dispatcher = _notifications(app, settings, pools.get("notify"), wecom_client)
    catalog = Catalog(settings)
    service = OrderService(settings, catalog, notify=notifier)
    app[SERVICE] = service
    tracking_page = app[pages.TRACKING]
    links = ChatLinks(tracking=lambda no: tracking_page.url(no),
                      dashboard=lambda: dashboard.dashboard_link(tracking_page,
                                                                 settings.public_url))
    app[DISPATCHER] = build_dispatcher(service, ParserService(catalog), links)
    # httpx's per-read timeout no shorter than the longest carrier deadline: the deadline
    # that fires, and that the hold reason names, is the configured one
    carrier_deadline = max(b.deadline_s for n, b in pools.bulkheads.items()
                           if n not in ("wecom", "notify"))
    providers = registry.build(settings, pools.get, timeout=max(DEFAULT_TIMEOUT,
                                                                 carrier_deadline))
    tracking = _tracking(app, settings, providers, notifier)
    app[SHIPPING] = ShippingService(service, providers.shipping, notify=notifier,
                                    sandbox=providers.sandbox)
    if manage_db:
        app.cleanup_ctx.append(_database(settings, load_demo_if_empty))
        app.cleanup_ctx.append(lambda app: delivery.running(dispatcher))
        app.cleanup_ctx.append(_scheduler(tracking, settings, notifier, providers.sandbox))
    app.on_startup.append(_reload_on_sighup)
    app.add_routes(ops.routes)
    app.add_routes(api.routes)
    app.add_routes(pages.routes)
    app.add_routes(dashboard.routes)
    if sandbox_mode(settings):
        app.add_routes(console.routes)
    _wecom(app, settings, wecom_client)
    return app


def _notifications(app: web.Application, settings: Settings, http: httpx.AsyncClient,
                   wecom_client: WeComClient | None
                   ) -> tuple[delivery.Notifier, OutboxDispatcher]:
    """Templates, channels (by the credentials present), the outbox dispatcher and the
    notifier the services call. A bad template or limit raises ConfigError here, at start."""
    tracking_page = app[pages.TRACKING]
    cfg = NotifyConfig.from_settings(
        settings, link=lambda no: tracking_page.url(no), table=settings.notify,
        dashboard=lambda: dashboard.dashboard_link(tracking_page, settings.public_url))
    channels = delivery.build_channels(settings, http, settings.notify,
                                       wecom_client=wecom_client)
    dispatcher = delivery.build_dispatcher(settings, channels, cfg, settings.templates,
                                           settings.notify)
    notifier = delivery.Notifier(cfg, dispatcher)
    app[OUTBOX] = dispatcher
    app[NOTIFIER] = notifier
    log.info("notifications: customers via %s, staff via %s, warehouse group via %s",
             cfg.customer_channel, cfg.staff_channel, cfg.group_channel)
    return notifier, dispatcher


def _tracking(app: web.Application, settings: Settings, providers: registry.Providers,
              notifier: delivery.Notifier) -> TrackingService:
    """The providers' clients (each courier tracked by the provider that serves it), the
    sandbox for SBX waybills, the push route. Logs the courier → provider table."""
    for line in registry.describe(settings).splitlines():
        log.info("%s", line)
    tracking = TrackingService(settings, providers.tracking, on_changes=notifier.changes,
                               serving=providers.serving)
    tracking.clients["sandbox"] = SandboxCarrier(speed=tracking.config.sandbox_speed,
                                                 trips=tracking.sandbox_trips)
    app[carrier_push.TRACKING] = tracking
    app.add_routes(carrier_push.routes)
    return tracking


def _scheduler(tracking: TrackingService, settings: Settings,
               notifier: delivery.Notifier, sandbox: bool):  # type: ignore[no-untyped-def]
    """The tracking sweep, stuck-shipment and delay-risk checks, the daily report (after the
    database is up), and in sandbox mode the automatic hand-over to the sandbox carrier."""
    async def ctx(app: web.Application) -> AsyncIterator[None]:
        auto = None
        if sandbox:
            delay = timedelta(minutes=settings.auto_ship_minutes)
            auto = asyncio.create_task(autoship.run(app[SHIPPING], delay))
            log.info("sandbox: confirmed orders ship by themselves after %s", delay)
        jobs = [("notify.delay_risk", alerts.delay_job(notifier, settings.delay_risk_hours),
                 settings.delay_check_minutes),
                ("notify.daily_report", alerts.daily_job(notifier, settings.daily_report_at),
                 10.0),
                ("shipping.retry", _retry_holds(app[SHIPPING]), 1.0),
                ("notify.purge_sent", _purge_sent(notifier), 24 * 60.0),
                # hourly check; it recalibrates when the table is `every_hours` old
                ("promise.calibrate", calibration.calibration_job(settings), 60.0),
                wecom_inbox.PRUNE_JOB]
        scheduler = build_scheduler(tracking, settings, on_stuck=alerts.stuck_handler(notifier),
                                    jobs=jobs)
        async with running(scheduler):
            yield
        if auto is not None:
            auto.cancel()

    return ctx


def _purge_sent(notifier: delivery.Notifier):  # type: ignore[no-untyped-def]
    """Sent notifications are kept `[notify] keep_sent_days` (30) for the operator view."""
    async def job() -> None:
        before = datetime.now(UTC) - timedelta(days=notifier.cfg.keep_sent_days)
        if n := await outbox_admin.purge(before):
            log.info("outbox: %d sent notification(s) older than %s purged", n, before)

    return job


def _retry_holds(shipping: ShippingService):  # type: ignore[no-untyped-def]
    async def job() -> None:
        if n := await shipping.retry_due():
            log.info("shipping: %d held order(s) shipped on retry", n)

    return job




def _wecom_client(settings: Settings, http: httpx.AsyncClient) -> WeComClient | None:
    """One WeCom API client for chat replies and staff notifications (one member limit)."""
    return wecom.client_from_env(http, {k: v.value for k, v in settings.env.items()})


def _wecom(app: web.Application, settings: Settings, wecom_client: WeComClient | None) -> None:
    """Mount the WeCom callbacks whose credentials are configured (each one says so)."""
    env = {k: v.value for k, v in settings.env.items()}
    client = app_crypto = bot_crypto = None
    needed = ("WECOM_CORP_ID", "WECOM_AGENT_ID", "WECOM_SECRET", "WECOM_TOKEN", "WECOM_AES_KEY")
    if wecom_client is not None and all(env.get(k) for k in needed):
        client = wecom_client
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
    """Couriers served by a live provider (direct keys, or Kuaidi100 with their account)."""
    return {code for code, s in couriers.plan(settings).items()
            if s.available and s.provider != couriers.SANDBOX}


def sandbox_mode(settings: Settings) -> bool:
    """No WeCom credentials: the local console stands in for WeCom."""
    return not ({"WECOM_CORP_ID", "WECOM_SECRET"} <= set(settings.env))


def reload_config(app: web.Application) -> bool:
    """Re-read config.toml (and the environment) into the running services: rules, tracking
    limits, notification templates and recipients, and the outbox dispatcher's quiet hours
    and per-channel limits.

    A config with an error is refused and logged; everything running stays in force.
    """
    try:
        new = config.load(app[CONFIG_PATH] or None)
        old_cfg = app[NOTIFIER].cfg
        notify_cfg = NotifyConfig.from_settings(new, link=old_cfg.link, table=new.notify,
                                                dashboard=old_cfg.dashboard)
        renderer = render.load(new.templates)
        limits = delivery.channel_limits(new.notify)
    except config.ConfigError as exc:
        log.error("config reload refused, keeping the running configuration: %s", exc)
        return False
    old = app[SERVICE].settings
    new = replace(new, db_url=old.db_url)  # the database is not switched under a running app
    app[SERVICE].apply_settings(new)
    app[carrier_push.TRACKING].apply_config(new.tracking)
    app[NOTIFIER].cfg = notify_cfg
    app[OUTBOX].apply_config(quiet=notify_cfg.quiet, limits=limits, renderer=renderer)
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
        if not settings.secret.value:
            app[pages.TRACKING].use_secret(await meta.secret("tracking"))
            log.warning("LVYUE_SECRET is not set: tracking links are signed with a key kept "
                        "in the database (set LVYUE_SECRET to choose it)")
        yield
        await db.close()

    return ctx
