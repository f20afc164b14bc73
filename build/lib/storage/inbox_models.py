"""The transactional inbox of WeCom callbacks (storage/inbox.py has its queries)."""

from __future__ import annotations

from typing import Any

from tortoise import fields
from tortoise.models import Model

INBOX_KEY_MAX = 255


class InboxMessage(Model):
    """One callback, stored before WeCom gets its answer; worked once, then kept a while as
    the dedupe memory for WeCom's retries (pruned after `[wecom] keep_inbox_days`).

    `due_ms` is set while the message waits: until then only `claimed_by` works it (a lease,
    epoch ms); after it any instance may claim it. Finished rows have no `due_ms`.
    """

    id = fields.BigIntField(primary_key=True)
    key = fields.CharField(INBOX_KEY_MAX, unique=True)  # app:msg:<MsgId>, bot:<msgid>, …
    source = fields.CharField(8)  # app | bot
    payload: Any = fields.JSONField()  # the message as received (an Incoming's fields)
    status = fields.CharField(8, default="pending")  # pending | done | failed
    attempts = fields.IntField(default=0)
    due_ms = fields.BigIntField(null=True, db_index=True)
    claimed_by = fields.CharField(64, null=True)
    result: Any = fields.JSONField(null=True)  # the robot's passive reply, kept for a retry
    last_error = fields.TextField(null=True)
    received_at = fields.DatetimeField()
    finished_at = fields.DatetimeField(null=True, db_index=True)

    class Meta:
        table = "callback_inbox"
