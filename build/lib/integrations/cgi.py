"""What WeCom's and the WeChat official account's server APIs share: JSON over
`/cgi-bin/…` with an `errcode` in every answer, and an access token that is cached until it
expires (minus a margin) and fetched by one caller at a time.

Each client keeps its own errcode tables and exception types; this module only carries the
round trip and the token bookkeeping, parameterised by them.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

import httpx


@dataclass(frozen=True)
class AccessToken:
    value: str = field(repr=False)
    expires_at: float  # epoch seconds, the safety margin already taken off


class TokenCache(Protocol):
    """Where tokens live between calls (per process by default; Redis or a DB row to share)."""

    async def get(self, key: str) -> AccessToken | None: ...
    async def set(self, key: str, token: AccessToken) -> None: ...
    async def delete(self, key: str) -> None: ...


class MemoryTokenCache:
    def __init__(self) -> None:
        self._tokens: dict[str, AccessToken] = {}

    async def get(self, key: str) -> AccessToken | None:
        return self._tokens.get(key)

    async def set(self, key: str, token: AccessToken) -> None:
        self._tokens[key] = token

    async def delete(self, key: str) -> None:
        self._tokens.pop(key, None)


class TokenKeeper:
    """A valid access token for one app: cached, fetched once at a time, never one the API
    just refused (`stale`)."""

    def __init__(self, cache: TokenCache, key: str, fetch: Callable[[], Awaitable[AccessToken]],
                 clock: Callable[[], float]) -> None:
        self._cache = cache
        self._key = key
        self._fetch = fetch
        self._clock = clock
        self._lock = asyncio.Lock()

    async def get(self, stale: str | None = None) -> str:
        token = self._fresh(await self._cache.get(self._key), stale)
        if token is not None:
            return token
        async with self._lock:  # one fetch at a time; the others reuse its result
            token = self._fresh(await self._cache.get(self._key), stale)
            if token is not None:
                return token
            fetched = await self._fetch()
            await self._cache.set(self._key, fetched)
            return fetched.value

    def _fresh(self, token: AccessToken | None, stale: str | None) -> str | None:
        if token is None or token.value == stale or token.expires_at <= self._clock():
            return None
        return token.value


def expiring(value: str, expires_in: float, margin: float, now: float) -> AccessToken:
    """A token that counts as expired `margin` seconds early (at most half its life)."""
    return AccessToken(value, now + expires_in - min(margin, expires_in / 2))


Unavailable = Callable[..., Exception]  # (reason, *, maybe_delivered=bool) -> exception


async def exchange(http: httpx.AsyncClient, method: str, url: str, params: Mapping[str, str],
                   body: Mapping[str, Any] | None, seconds: float,
                   unavailable: Unavailable) -> dict[str, Any]:
    """One HTTP round trip → the decoded JSON object with an `errcode` (0 when absent).

    Transport failures raise `unavailable(reason, maybe_delivered=…)`: True when the request
    may have landed (a read timeout, an HTTP error, an answer that is not JSON)."""
    content = None if body is None else json.dumps(body, ensure_ascii=False).encode("utf-8")
    headers = {"Content-Type": "application/json; charset=utf-8"} if content else None
    try:
        resp = await http.request(method, url, params=params, content=content, headers=headers,
                                  timeout=seconds)
    except (httpx.ConnectTimeout, httpx.ConnectError, httpx.PoolTimeout) as exc:
        raise unavailable(type(exc).__name__) from None
    except httpx.TransportError as exc:  # read/write timeout, reset: the request may have landed
        raise unavailable(type(exc).__name__, maybe_delivered=True) from None
    if resp.status_code != httpx.codes.OK:
        raise unavailable(f"HTTP {resp.status_code}", maybe_delivered=True)
    try:
        data = resp.json()
    except ValueError:
        raise unavailable("answer is not JSON", maybe_delivered=True) from None
    if not isinstance(data, dict) or not isinstance(data.get("errcode", 0), int):
        raise unavailable("answer has no errcode", maybe_delivered=True)
    data.setdefault("errcode", 0)
    return data
