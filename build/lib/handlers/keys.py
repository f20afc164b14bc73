"""Typed keys for what the composition root stores on the aiohttp application."""

from __future__ import annotations

from aiohttp import web

from bot.config import Settings
from bot.dispatch import Dispatcher
from bot.ordering import OrderService
from bot.shipping import ShippingService

SETTINGS = web.AppKey("settings", Settings)
SERVICE = web.AppKey("service", OrderService)
DISPATCHER = web.AppKey("dispatcher", Dispatcher)
# Set by bot/app.py when notifications are wired (always, in a built app).
OUTBOX = web.AppKey("outbox", "OutboxDispatcher")
NOTIFIER = web.AppKey("notifier", "Notifier")
SHIPPING = web.AppKey("shipping", ShippingService)
