"""Transport-agnostic chat dispatch: an Incoming in, a list of replies out.

Routers hold handlers with filters declared where the handler is registered (aiogram's
habit). The dispatcher tries routers in a visible order; the first handler whose filters
all pass answers. A filter returns False, True, or a dict that becomes handler kwargs.
WeCom, the local console and the tests all feed the same dispatcher.
"""

from __future__ import annotations

import inspect
import logging
import re
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

log = logging.getLogger(__name__)


# ---- what comes in -------------------------------------------------------------------

@dataclass(frozen=True)
class Incoming:
    kind: str  # "text" | "card_event" | "event" | "file"
    user_id: str
    chat_type: str = "single"  # "single" | "group"
    chat_id: str | None = None
    text: str = ""
    msg_id: str = ""
    event_key: str = ""  # card button key, e.g. "ord:confirm:LY261125000001"
    task_id: str = ""
    response_code: str = ""
    selected: Mapping[str, str] = field(default_factory=dict)
    media_id: str = ""  # a file message: WeCom's media id (downloaded by the handler) …
    file_name: str = ""
    file_data: bytes | None = None  # … or the file itself (the console's upload)
    transport: str = "wecom"  # "wecom" | "aibot" | "console" | "test"
    received_at: datetime = field(default_factory=lambda: datetime.now(UTC))


# ---- what goes out -------------------------------------------------------------------

@dataclass(frozen=True)
class TextReply:
    text: str


@dataclass(frozen=True)
class CardReply:
    """A new interactive card; `card` is WeCom template_card JSON (messages/cards.py)."""

    card: Mapping[str, Any]


@dataclass(frozen=True)
class UpdateCard:
    """Replace a card the user already has (by its task id) with a new state."""

    task_id: str
    card: Mapping[str, Any]


Reply = TextReply | CardReply | UpdateCard
Handler = Callable[..., Awaitable[Sequence[Reply]]]
Filter = Callable[[Incoming, Mapping[str, Any]], Awaitable[bool | dict[str, Any]] | bool |
                  dict[str, Any]]


# ---- filters ---------------------------------------------------------------------------

def chat(chat_type: str) -> Filter:
    def f(msg: Incoming, data: Mapping[str, Any]) -> bool:
        return msg.chat_type == chat_type
    return f


def kind(*kinds: str) -> Filter:
    def f(msg: Incoming, data: Mapping[str, Any]) -> bool:
        return msg.kind in kinds
    return f


def command(*words: str) -> Filter:
    """`查单 LY...` → {"args": "LY..."}; also matches fullwidth spaces and a leading '/'."""
    pattern = re.compile(r"^\s*/?(" + "|".join(map(re.escape, words)) + r")(?:[\s:：]+(.*))?$",
                         re.S)

    def f(msg: Incoming, data: Mapping[str, Any]) -> bool | dict[str, Any]:
        m = pattern.match(msg.text.replace("\u3000", " ")) if msg.kind == "text" else None
        return {"command": m.group(1), "args": (m.group(2) or "").strip()} if m else False
    return f


def card_action(prefix: str) -> Filter:
    """Card button keys look like `prefix:action:arg`."""
    def f(msg: Incoming, data: Mapping[str, Any]) -> bool | dict[str, Any]:
        if msg.kind != "card_event":
            return False
        parts = msg.event_key.split(":", 2)
        if len(parts) != 3 or parts[0] != prefix:
            return False
        return {"action": parts[1], "arg": parts[2]}
    return f


def role(*roles: str) -> Filter:
    def f(msg: Incoming, data: Mapping[str, Any]) -> bool:
        actor = data.get("actor")
        return actor is not None and actor.role in roles
    return f


# ---- routers and the dispatcher --------------------------------------------------------

@dataclass
class _Registered:
    handler: Handler
    filters: tuple[Filter, ...]


class Router:
    def __init__(self, name: str) -> None:
        self.name = name
        self._handlers: list[_Registered] = []

    def on(self, *filters: Filter) -> Callable[[Handler], Handler]:
        def register(fn: Handler) -> Handler:
            self._handlers.append(_Registered(fn, filters))
            return fn
        return register

    async def match(self, msg: Incoming, data: Mapping[str, Any]
                    ) -> tuple[Handler, dict[str, Any]] | None:
        for reg in self._handlers:
            kwargs: dict[str, Any] = {}
            for flt in reg.filters:
                result = flt(msg, {**data, **kwargs})
                if inspect.isawaitable(result):
                    result = await result
                if result is False:
                    break
                if isinstance(result, dict):
                    kwargs.update(result)
            else:
                return reg.handler, kwargs
        return None


Middleware = Callable[[Incoming, dict[str, Any]], Awaitable[None]]
SORRY = "系统繁忙，请稍后再试"


class Dispatcher:
    """Routers in order, first match wins; dependencies are injected by parameter name."""

    def __init__(self, routers: Sequence[Router], deps: Mapping[str, Any],
                 middlewares: Sequence[Middleware] = ()) -> None:
        self.routers = list(routers)
        self.deps = dict(deps)
        self.middlewares = list(middlewares)

    async def feed(self, msg: Incoming) -> list[Reply]:
        data: dict[str, Any] = {**self.deps, "msg": msg}
        try:
            for mw in self.middlewares:
                await mw(msg, data)
            for router in self.routers:
                found = await router.match(msg, data)
                if found:
                    handler, kwargs = found
                    return list(await handler(**_kwargs_for(handler, {**data, **kwargs})))
        except Exception:
            # The one edge where anything unexpected becomes a polite reply, never a trace.
            log.exception("chat handler failed for %s from %s", msg.kind, msg.user_id)
            return [TextReply(SORRY)]
        return []


def _kwargs_for(fn: Handler, available: Mapping[str, Any]) -> dict[str, Any]:
    params = inspect.signature(fn).parameters
    return {name: available[name] for name in params if name in available}
