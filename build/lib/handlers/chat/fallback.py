"""Anything no other router answered."""

from __future__ import annotations

from bot.dispatch import Incoming, Reply, Router, TextReply, kind

router = Router("fallback")


@router.on(kind("text"))
async def unknown(msg: Incoming) -> list[Reply]:
    return [TextReply("没看懂这条消息，发送“帮助”看我能做什么。")]
