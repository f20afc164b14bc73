"""Models of the WeCom chat front: persistent dedupe of callbacks (card state comes later)."""

from __future__ import annotations

from tortoise import fields
from tortoise.models import Model

SEEN_KEY_MAX = 255


class SeenCallback(Model):
    """One row per callback already handled; the unique key makes a WeCom retry a no-op.

    Keys are ``MsgId`` for messages and ``FromUserName+CreateTime(+Event+TaskId+EventKey)`` for
    events (wecom.md §1.6); storage.seen shortens keys longer than SEEN_KEY_MAX.
    """

    id = fields.BigIntField(primary_key=True)
    key = fields.CharField(SEEN_KEY_MAX, unique=True)
    received_at = fields.DatetimeField(auto_now_add=True, db_index=True)

    class Meta:
        table = "seen_callbacks"
