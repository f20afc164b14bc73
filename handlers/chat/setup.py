"""The chat dispatcher: routers in their order, and the middleware that resolves the actor."""

from __future__ import annotations

from typing import Any

from bot.dispatch import Dispatcher, Incoming
from bot.ordering import OrderService
from handlers.chat import customers, edits, fallback, manager, orders, queries, sheets
from handlers.chat.views import ChatLinks
from storage.models import Staff


async def resolve_actor(msg: Incoming, data: dict[str, Any]) -> None:
    """Inject `actor`: the active staff member behind the WeCom user id, or None."""
    data["actor"] = await Staff.get_or_none(userid=msg.user_id, active=True)


def build_dispatcher(service: OrderService, parser: Any, links: ChatLinks | None = None
                     ) -> Dispatcher:
    # Order matters: manager commands, then the other commands, then order text and card
    # buttons, and the fallback last.
    routers = [manager.router, queries.router, customers.router, edits.router, sheets.router,
               orders.router, fallback.router]
    return Dispatcher(routers, {"service": service, "parser": parser, "links": links},
                      middlewares=[resolve_actor])
