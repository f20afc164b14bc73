"""Words a team taught the parser (bot/learning.py): a phrase → a SKU or a customer code."""

from __future__ import annotations

from tortoise import fields
from tortoise.models import Model


class LearntAlias(Model):
    """A phrase a team's salesperson resolved by picking a candidate or correcting a line.
    Kept apart from the catalogue, so that a re-import keeps it."""

    id = fields.IntField(primary_key=True)
    team = fields.CharField(64, default="")  # the salesperson's group chat; "" is everyone
    kind = fields.CharField(16)  # product | customer
    phrase = fields.CharField(128)  # the parser's key of the phrase (normal form, no spaces)
    target = fields.CharField(64)  # SKU or customer code
    label = fields.CharField(128, default="")  # the phrase as typed, for the list
    learnt_by = fields.CharField(64, default="")
    uses = fields.IntField(default=0)
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "learnt_aliases"
        unique_together = (("team", "kind", "phrase"),)
