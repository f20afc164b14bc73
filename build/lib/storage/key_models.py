"""API keys (`python bot.py keys …`): who may call /api, and in which role."""

from __future__ import annotations

from tortoise import fields
from tortoise.models import Model


class ApiKey(Model):
    """One issued key. Only the SHA-256 of the key is kept; the key itself is printed once.

    `name` is the owner (a staff user id such as `lina`, or a system such as `erp`): it is the
    actor written to the order log for everything done with the key.
    """

    id = fields.IntField(primary_key=True)
    name = fields.CharField(64, db_index=True)
    role = fields.CharField(16)
    key_hash = fields.CharField(64, unique=True)
    prefix = fields.CharField(12)  # the key's first characters, to tell keys apart in a list
    created_at = fields.DatetimeField(auto_now_add=True)
    revoked_at = fields.DatetimeField(null=True)

    class Meta:
        table = "api_keys"
