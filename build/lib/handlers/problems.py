"""application/problem+json (RFC 9457) responses."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from aiohttp import web


class Problem(Exception):
    """Raised by handlers; the errors middleware turns it into a response."""

    def __init__(self, status: int, title: str, errors: Sequence[Mapping[str, Any]],
                 extra: Mapping[str, Any] | None = None,
                 headers: Mapping[str, str] | None = None) -> None:
        self.status, self.title, self.errors, self.extra = status, title, list(errors), extra
        self.headers = headers
        super().__init__(title)


def json_response(body: Any, status: int = 200) -> web.Response:
    """JSON with Chinese left readable (not \\u-escaped)."""
    return web.Response(status=status, text=json.dumps(body, ensure_ascii=False),
                        content_type="application/json", charset="utf-8")


def problem(status: int, title: str, errors: Sequence[Mapping[str, Any]],
            extra: Mapping[str, Any] | None = None,
            headers: Mapping[str, str] | None = None) -> web.Response:
    body = {"type": "about:blank", "title": title, "status": status, "errors": list(errors),
            **(extra or {})}
    return web.Response(status=status, headers=headers,
                        text=json.dumps(body, ensure_ascii=False),
                        content_type="application/problem+json", charset="utf-8")
