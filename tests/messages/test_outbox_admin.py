"""The operator view: counts, rows with reasons, retry from the console or the command line."""

from __future__ import annotations

import io
from pathlib import Path

from messages.outbox_admin import amain, retry, snapshot
from storage import db as storage_db
from storage import outbox
from storage.outbox import Notification
from tests.messages.helpers import NOON, Clock


def note(i: int) -> Notification:
    return Notification(dedup_key=f"k{i}", event="shipped", channel="wechat_oa",
                        recipient=f"o{i}", template="shipped.wechat_oa", context={},
                        order_no=f"SO{i}")


async def make_dead(n: int) -> None:
    clock = Clock()
    await outbox.enqueue([note(i) for i in range(n)], clock())
    for c in await outbox.claim(n, "w", 60, clock(), ["wechat_oa"]):
        await outbox.mark_dead(c, "用户拒收公众号消息（43101）")


async def test_snapshot_and_retry(db: str) -> None:
    await make_dead(2)
    await outbox.enqueue([note(9)], NOON)
    snap = await snapshot(status="dead")
    assert snap["counts"] == {"pending": 1, "sending": 0, "sent": 0, "dead": 2}
    assert [r["error"] for r in snap["rows"]] == ["用户拒收公众号消息（43101）"] * 2
    assert snap["rows"][0]["status_zh"] == "失败" and snap["rows"][0]["next_attempt_at"] is None
    first = snap["rows"][-1]["id"]
    assert await retry([first, 999]) == {first: True, 999: False}
    assert (await snapshot())["counts"]["pending"] == 2


async def test_command_line(tmp_path: Path) -> None:
    url = f"sqlite://{tmp_path / 'admin.db'}"
    await storage_db.init(url)
    await make_dead(2)
    await storage_db.close()

    out = io.StringIO()
    assert await amain(["--db", url, "status"], out) == 0
    assert out.getvalue() == "待发送 0  发送中 0  已发送 0  失败 2\n"
    out = io.StringIO()
    await amain(["--db", url, "list", "dead"], out)
    lines = out.getvalue().splitlines()
    assert len(lines) == 2 and "原因：用户拒收公众号消息（43101）" in lines[0]
    out = io.StringIO()
    assert await amain(["--db", url, "retry", "1"], out) == 0
    assert out.getvalue() == "#1 已重新排队\n"
    out = io.StringIO()
    assert await amain(["--db", url, "retry", "1"], out) == 1  # pending now, not dead
    out = io.StringIO()
    await amain(["--db", url, "retry", "--all-dead"], out)
    assert out.getvalue() == "重新发送 1 条失败通知\n"


def test_every_event_has_a_chinese_name_for_the_operator() -> None:
    from messages.outbox_admin import EVENT_ZH
    from messages.render import VARIABLES

    assert set(VARIABLES) <= set(EVENT_ZH)


async def test_purge_removes_old_sent_rows_and_keeps_work_and_evidence(db: str) -> None:
    from datetime import timedelta

    from messages.outbox_admin import purge
    from storage.outbox_models import OutboxNotification, OutboxStatus

    clock = Clock()
    await make_dead(2)  # dead letters: evidence, never purged
    await outbox.enqueue([note(i) for i in range(10, 15)], clock())
    claimed = await outbox.claim(5, "w", 60, clock(), ["wechat_oa"])
    for c in claimed[:3]:
        await outbox.mark_sent(c, f"msg-{c.id}", "文本", clock())
    await outbox.enqueue([note(20)], clock())  # still pending: work
    sent = await OutboxNotification.filter(status=OutboxStatus.sent).values_list("id", flat=True)
    await OutboxNotification.filter(id=sent[0]).update(sent_at=clock() - timedelta(days=40))
    assert await purge(clock() - timedelta(days=30)) == 1
    counts = await outbox.counts()
    assert counts == {"pending": 1, "sending": 2, "sent": 2, "dead": 2}
    assert await purge(clock() - timedelta(days=30)) == 0


async def test_purge_from_the_command_line(tmp_path: Path) -> None:
    url = f"sqlite://{tmp_path / 'purge.db'}"
    await storage_db.init(url)
    await make_dead(1)
    await storage_db.close()
    out = io.StringIO()
    assert await amain(["--db", url, "purge", "--older-than", "30"], out) == 0
    assert out.getvalue() == "删除 0 条30天前已发送的通知\n"
    out = io.StringIO()
    assert await amain(["--db", url, "status"], out) == 0
    assert out.getvalue() == "待发送 0  发送中 0  已发送 0  失败 1\n"
