"""Chat state that must survive a restart: interactive cards and the questions people ask."""

from __future__ import annotations

from tortoise import fields
from tortoise.models import Model


class ChatCard(Model):
    """One interactive order card as a user sees it. State lives here, not in memory."""

    id = fields.IntField(primary_key=True)
    task_id = fields.CharField(128, unique=True)
    order_no = fields.CharField(24, db_index=True)
    user_id = fields.CharField(64)
    chat_id = fields.CharField(64, null=True)
    kind = fields.CharField(16, default="order")  # order | choice
    state = fields.CharField(16, default="open")  # open | busy | confirmed | cancelled | held
    response_code = fields.CharField(128, null=True)
    payload: dict = fields.JSONField(default=dict)  # a choice card's pending draft
    created_at = fields.DatetimeField(auto_now_add=True)
    updated_at = fields.DatetimeField(auto_now=True)

    class Meta:
        table = "chat_cards"


class ChatQuestion(Model):
    """A question asked in chat (查物流, 查单, 查库存), counted per day on the dashboard."""

    id = fields.IntField(primary_key=True)
    kind = fields.CharField(16, db_index=True)  # logistics | order | stock
    user_id = fields.CharField(64)
    subject = fields.CharField(64, default="")
    at = fields.DatetimeField(auto_now_add=True, db_index=True)

    class Meta:
        table = "chat_questions"
