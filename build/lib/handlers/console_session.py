"""Who the operator is on the local console: the staff member picked there, kept in a signed
cookie (HttpOnly, SameSite=Strict, path /console), so the chat endpoints act as that person
and not as whatever a request body claims. The cookie is signed with a key derived from the
app's secret (bot/tokens.py tokens, like the tracking links) and lasts a day.
"""

from __future__ import annotations

import hashlib
import hmac
from datetime import datetime

from aiohttp import web

from bot.tokens import tracking_token, verify_tracking_token
from handlers import pages
from handlers.problems import Problem

COOKIE = "lvyue_console"
TTL_DAYS = 1.0


def _key(request: web.Request) -> str:
    secret = request.app[pages.TRACKING].secret
    return hmac.new(secret.encode("utf-8"), b"lvyue console session", hashlib.sha256).hexdigest()


def _now(request: web.Request) -> datetime:
    return request.app[pages.TRACKING].clock()


def start(request: web.Request, response: web.StreamResponse, userid: str) -> None:
    """Bind the console to `userid` (an active staff member the caller has checked)."""
    token = tracking_token(userid, _key(request), TTL_DAYS, now=_now(request))
    response.set_cookie(COOKIE, token, httponly=True, samesite="Strict", path="/console",
                        max_age=int(TTL_DAYS * 86400))


def user_of(request: web.Request) -> str:
    """The staff member this console session was started for; 401 without one."""
    userid = verify_tracking_token(request.cookies.get(COOKIE, ""), _key(request),
                                   _now(request))
    if not userid:
        raise Problem(401, "请先选择员工身份", [{
            "field": "user_id", "code": "no_session",
            "message": "请在控制台上方选择以哪位员工的身份发言"}])
    return userid
