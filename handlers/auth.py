"""Who may call /api: `Authorization: Bearer <key>` (python bot.py keys create …), the roles
each route declares, a rate limit per key, and JSON bodies only.

- no key, or one that is unknown or revoked → 401 problem+json (with WWW-Authenticate);
- a role the route does not accept → 403 naming the roles it does (admin may do everything;
  a route that declares nothing is admin-only);
- over the key's rate (`[limits] api_per_key_*`) → 429 with Retry-After;
- a body that is not `application/json` → 415 (what a form or `text/plain` post from another
  site would send; the key in a header already keeps such pages out). A route that takes a
  file declares `content=(MULTIPART,)` (POST /api/orders/import) and takes only that.

The key's owner (`Principal.name`) is the actor of everything done with it. Keys are looked
up by their SHA-256, and remembered for CACHE_SECONDS: a revoked key stops working within
that time in every process.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from bot.domain.roles import ADMIN, KEY_ROLES
from bot.ratelimit import Limiter
from handlers.edge import too_many
from handlers.problems import Problem
from storage import api_keys
from storage.api_keys import Principal

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
CACHE_SECONDS = 5.0
CACHE_MAX = 10_000
JSON = "application/json"
MULTIPART = "multipart/form-data"  # only where a route declares it (file uploads)
PRINCIPAL = web.RequestKey("principal", Principal)
_ROLES: dict[Any, frozenset[str]] = {}
_CONTENT: dict[Any, frozenset[str]] = {}


def roles(*names: str, content: Iterable[str] = (JSON,)) -> Callable[[Any], Any]:
    """Declare the key roles a route accepts (admin always may) and the body types it takes."""
    unknown = set(names) - set(KEY_ROLES)
    if unknown:
        raise ValueError(f"unknown roles {sorted(unknown)} (known: {', '.join(KEY_ROLES)})")

    def mark(handler: Any) -> Any:
        _ROLES[handler] = frozenset({*names, ADMIN})
        _CONTENT[handler] = frozenset(content)
        return handler

    return mark


def allowed_roles(handler: Any) -> frozenset[str]:
    return _ROLES.get(handler, frozenset({ADMIN}))


@dataclass
class KeyCache:
    """Key digests → owner (or None: not a valid key), each for CACHE_SECONDS."""

    limiter: Limiter
    ttl: float = CACHE_SECONDS
    clock: Callable[[], float] = time.monotonic
    _seen: dict[str, tuple[Principal | None, float]] = field(default_factory=dict)

    async def principal(self, key: str) -> Principal | None:
        digest = api_keys.digest(key)
        now = self.clock()
        hit = self._seen.get(digest)
        if hit is not None and hit[1] > now:
            return hit[0]
        found = await api_keys.find_digest(digest)
        if len(self._seen) >= CACHE_MAX:
            self._seen.clear()
        self._seen[digest] = (found, now + self.ttl)
        return found


KEYS = web.AppKey("api_keys", KeyCache)


def _unauthorized(message: str) -> Problem:
    return Problem(401, "需要API密钥", [{"field": "Authorization", "code": "unauthorized",
                                      "message": message}],
                   headers={"WWW-Authenticate": 'Bearer realm="lvyue"'})


def _bearer(request: web.Request) -> str:
    value = request.headers.get("Authorization", "")
    scheme, _, key = value.partition(" ")
    if scheme.lower() != "bearer" or not key.strip():
        raise _unauthorized("请在 Authorization 头中提供 Bearer API 密钥"
                            "（python bot.py keys create）")
    return key.strip()


def _is_api(path: str) -> bool:
    return path == "/api" or path.startswith("/api/")


@web.middleware
async def api_auth_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Runs inside the errors middleware (Problem → problem+json)."""
    if not _is_api(request.path):
        return await handler(request)
    cache = request.app[KEYS]
    who = await cache.principal(_bearer(request))
    if who is None:
        raise _unauthorized("API密钥无效或已吊销")
    route = request.match_info.handler
    accepted = allowed_roles(route)
    if request.match_info.http_exception is None and who.role not in accepted:
        allowed = "、".join(sorted(accepted))
        raise Problem(403, "没有权限", [{
            "field": "Authorization", "code": "forbidden_role",
            "message": f"密钥角色“{who.role}”不能调用此接口（允许：{allowed}）"}])
    if wait := cache.limiter.take(f"key:{who.key_id}"):
        return too_many(wait, "该API密钥的请求过于频繁，请稍后再试")
    _content_type(request, _CONTENT.get(route, frozenset({JSON})))
    request[PRINCIPAL] = who
    return await handler(request)


def _content_type(request: web.Request, accepted: frozenset[str]) -> None:
    """An empty body may come with any type (HTTP clients label an empty POST
    application/octet-stream); a body must be of an accepted type."""
    if not request.can_read_body:
        return
    if request.content_type not in accepted:
        raise Problem(415, "请求体类型不受支持", [{
            "field": "Content-Type", "code": "unsupported_media_type",
            "message": f"只接受 {'、'.join(sorted(accepted))} 格式的请求体"}])


def principal(request: web.Request) -> Principal:
    """The key's owner (the auth middleware has set it on every /api request)."""
    return request[PRINCIPAL]
