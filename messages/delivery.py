"""Assembly helpers for the composition root (bot/app.py): the channels the credentials
allow, the dispatcher, and `Notifier`, the one call domain services make inside their
transaction to turn events into outbox rows.

    channels = build_channels(settings, http, notify_table, wecom_client=client)
    cfg = NotifyConfig.from_settings(settings, link=tracking_page.url, table=notify_table)
    dispatcher = build_dispatcher(settings, channels, cfg, templates_table, notify_table)
    notifier = Notifier(cfg, dispatcher)
    TrackingService(..., on_changes=notifier.changes)
    app.cleanup_ctx.append(lambda app: running(dispatcher))
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
from collections.abc import AsyncIterator, Mapping, Sequence
from datetime import datetime
from typing import Any

import httpx

from integrations import wechat_oa, wecom
from messages import chat_replies
from messages.channels import (
    Channel,
    ConsoleChannel,
    WeChatOAChannel,
    WeComAppChannel,
    WeComGroupChannel,
    oa_template_ids,
)
from messages.notify import NotifyConfig, dead_letter_hook, plan
from messages.outbox import ChannelLimit, OutboxDispatcher, limits_from
from messages.render import load
from storage import outbox

log = logging.getLogger(__name__)
WAKE_AFTER = 0.05  # seconds: the caller's transaction has usually committed by then


def _env(settings: Any) -> dict[str, str]:
    return {k: v.value for k, v in getattr(settings, "env", {}).items()}


def _table(table: Mapping[str, Any] | None, key: str) -> Mapping[str, Any]:
    value = (table or {}).get(key, {})
    return value if isinstance(value, Mapping) else {}


def build_channels(settings: Any, http: httpx.AsyncClient,
                   notify_table: Mapping[str, Any] | None = None, *,
                   wecom_client: wecom.WeComClient | None = None,
                   console: ConsoleChannel | None = None) -> dict[str, Channel]:
    """The console always; 公众号, WeCom app and group robot when their credentials are set.

    Pass the WeCom client the chat front uses, so both count against one member limit.
    """
    env = _env(settings)
    channels: dict[str, Channel] = {"console": console or ConsoleChannel()}
    if env.get("WECHAT_APP_ID") and env.get("WECHAT_SECRET"):
        client = wechat_oa.WeChatOAClient(http, env.get("WECHAT_API_BASE") or wechat_oa.API_BASE,
                                          env["WECHAT_APP_ID"], env["WECHAT_SECRET"])
        ids = oa_template_ids(_table(_table(notify_table, "wechat_oa"), "template_ids"))
        channels["wechat_oa"] = WeChatOAChannel(client, ids)
    if wecom_client is None:
        wecom_client = wecom.client_from_env(http, env)
    if wecom_client is not None and env.get("WECOM_AGENT_ID"):
        channels["wecom_app"] = WeComAppChannel(wecom_client, env["WECOM_AGENT_ID"])
        channels[chat_replies.CHANNEL] = chat_replies.WeComChatChannel(
            wecom_client, env["WECOM_AGENT_ID"])
    if env.get("WECOM_WEBHOOK_KEY"):
        hook = wecom.GroupWebhook(http, env.get("WECOM_API_BASE") or wecom.API_BASE,
                                  env["WECOM_WEBHOOK_KEY"])
        group = str((notify_table or {}).get("warehouse_group", "warehouse"))
        channels["wecom_group"] = WeComGroupChannel({group: hook})
    return channels


def stable_worker_id(settings: Any) -> str:
    """host:port: unique per live instance, the same after a restart (fast recovery)."""
    return f"{socket.gethostname()}:{getattr(settings, 'port', os.getpid())}"


def build_dispatcher(settings: Any, channels: Mapping[str, Channel], cfg: NotifyConfig,
                     templates_table: Mapping[str, Any] | None = None,
                     notify_table: Mapping[str, Any] | None = None, *,
                     worker_id: str | None = None) -> OutboxDispatcher:
    """A dispatcher over `channels` with the configured templates, limits and quiet hours.

    Raises ConfigError (naming the key) for a bad template or limit: at start, not at send.
    """
    return OutboxDispatcher(
        channels, worker_id=worker_id or stable_worker_id(settings),
        renderer=load(templates_table), limits=channel_limits(notify_table),
        quiet=cfg.quiet, on_dead=dead_letter_hook(cfg))


def channel_limits(notify_table: Mapping[str, Any] | None) -> dict[str, ChannelLimit]:
    """``[notify.limits.<channel>]`` checked (ConfigError names the bad key)."""
    return limits_from(_table(notify_table, "limits"))


class Notifier:
    """Events → outbox rows in the caller's transaction, then a wake-up for the dispatcher."""

    def __init__(self, cfg: NotifyConfig, dispatcher: OutboxDispatcher | None = None) -> None:
        self.cfg = cfg
        self._dispatcher = dispatcher
        self._wake_pending = False

    async def __call__(self, events: Sequence[Any], now: datetime | None = None) -> None:
        """Plan and enqueue; call inside the transaction that made the state change."""
        rows = [n for event in events for n in await plan(event, self.cfg, now)]
        await outbox.enqueue(rows, now)
        if rows:
            self._wake_soon()

    async def changes(self, changes: Sequence[Any]) -> None:
        """`TrackingService(on_changes=...)`."""
        await self(changes)

    def _wake_soon(self) -> None:
        # No after-commit hook in tortoise: wake the dispatcher a moment later; if the
        # transaction is slower, its idle timer finds the rows. One wake-up per WAKE_AFTER
        # at most: under load every order would otherwise cost the dispatcher a claim.
        if self._dispatcher is None or self._wake_pending:
            return
        with contextlib.suppress(RuntimeError):  # no running loop (a script)
            asyncio.get_running_loop().call_later(WAKE_AFTER, self._wake)
            self._wake_pending = True

    def _wake(self) -> None:
        self._wake_pending = False
        if self._dispatcher is not None:
            self._dispatcher.notify()


@contextlib.asynccontextmanager
async def running(dispatcher: OutboxDispatcher, idle: float = 2.0) -> AsyncIterator[None]:
    """Run the dispatcher for the life of the block (an aiohttp cleanup_ctx)."""
    stop = asyncio.Event()
    task = asyncio.create_task(dispatcher.run_forever(stop, idle=idle))
    try:
        yield
    finally:
        stop.set()
        try:
            await asyncio.wait_for(task, 15)
        except TimeoutError:
            log.warning("outbox: sends still in flight at shutdown; their leases bring them back")
