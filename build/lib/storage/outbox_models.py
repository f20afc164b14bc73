"""The notification outbox: one row per message to one recipient on one channel.

Life of a row: ``pending`` → ``sending`` (claimed by a dispatcher under a lease) → ``sent``,
or back to ``pending`` (retry, rate limit, quiet hours), or ``dead`` (permanent error or out
of attempts; an operator may retry it). `dedup_key` is unique, so a notification planned
twice is stored once.

Scheduling columns are epoch milliseconds, not timestamps: the claim is one raw statement
on both engines (storage/outbox.py), and integers compare the same way in SQLite and
PostgreSQL. `next_attempt_ms` is NULL once a row is settled (sent or dead), so the due-row
index only holds work. While a row is ``sending`` it equals the lease end: a dispatcher that
died mid-send (kill -9) leaves a row that becomes due again when its lease runs out.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from tortoise import fields
from tortoise.models import Model

DEDUP_KEY_MAX = 255


class OutboxStatus(StrEnum):
    pending = "pending"
    sending = "sending"
    sent = "sent"
    dead = "dead"


class OutboxNotification(Model):
    id = fields.BigIntField(primary_key=True)
    dedup_key = fields.CharField(DEDUP_KEY_MAX, unique=True)
    event = fields.CharField(32)  # order_confirmed, shipped, … (picks the OA template id)
    channel = fields.CharField(16)  # wechat_oa | wecom_app | wecom_group | console
    recipient = fields.CharField(128)  # openid, WeCom userid, group name, console label
    template = fields.CharField(64)  # messages/templates/<template>.j2, e.g. shipped.wechat_oa
    context: Any = fields.JSONField(default=dict)
    order_no = fields.CharField(24, null=True, db_index=True)
    status = fields.CharEnumField(OutboxStatus, max_length=8, default=OutboxStatus.pending,
                                  db_index=True)
    quiet = fields.BooleanField(default=False)  # waits out quiet hours (customer pushes)
    attempts = fields.IntField(default=0)
    not_before = fields.DatetimeField(null=True)  # as planned: end of quiet hours, or None
    next_attempt_ms = fields.BigIntField(null=True)  # due time; lease end while sending
    claimed_by = fields.CharField(64, null=True)
    claimed_until_ms = fields.BigIntField(null=True)
    sent_at = fields.DatetimeField(null=True)
    remote_id = fields.CharField(128, null=True)  # msgid / response code from the channel
    rendered = fields.TextField(null=True)  # what was sent, for the operator view
    last_error = fields.TextField(null=True)  # the latest failure, or the dead reason
    created_at = fields.DatetimeField(auto_now_add=True)
    updated_at = fields.DatetimeField(auto_now=True)

    class Meta:
        table = "outbox"
        indexes = (("channel", "next_attempt_ms"),)

    def __str__(self) -> str:
        return f"outbox#{self.id} {self.template}→{self.channel}:{self.recipient} {self.status}"
