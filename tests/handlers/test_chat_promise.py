"""几点到: the promise for an order placed now or at a named moment, nothing placed."""

from datetime import UTC, datetime, time, timedelta

from bot.domain import eta
from handlers.chat.queries import when_phrase
from storage.models import Order
from tests.handlers.test_chat import dispatcher, only_text, text  # noqa: F401 (fixture)

NOW = datetime(2026, 12, 4, 9, 30, tzinfo=UTC)  # 17:30 China time, a Friday


def test_when_phrase_reads_day_part_and_hour():
    day = datetime(2026, 12, 5, tzinfo=eta.CST).date()
    at, rest = when_phrase("C0001 OIL00001 x2 明天上午下单", NOW)
    assert at == datetime.combine(day, time(10), eta.CST) and rest == "C0001 OIL00001 x2"
    at, _ = when_phrase("明天下午6点半下单 C0001 OIL00001 x2", NOW)
    assert at == datetime.combine(day, time(18, 30), eta.CST)
    assert when_phrase("C0001 OIL00001 x2", NOW) == (NOW, "C0001 OIL00001 x2")


async def test_quote_by_chat_names_each_shipment_and_places_nothing(dispatcher):  # noqa: F811
    ask = "几点到 C0001 OIL00001 x2 明天上午下单"
    reply = only_text(await dispatcher.feed(text("zhangwei", ask)))
    tomorrow = datetime.now(UTC).astimezone(eta.CST).date() + timedelta(days=1)
    assert reply.startswith(f"{tomorrow:%m月%d日}10:00下单")
    assert "杭州仓" in reply and "送达（±2小时）" in reply
    assert await Order.all().count() == 0
    assert "例如" in only_text(await dispatcher.feed(text("zhangwei", "几点到")))
