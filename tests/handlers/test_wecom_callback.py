"""WeCom callbacks end to end: encrypted requests in, real API calls out to the fake WeCom."""

import asyncio
import json
import secrets
import string
import time
from dataclasses import replace
from typing import Any

import pytest

from bot.app import build
from bot.config import Secret
from integrations.wecom_crypto import AppCrypto, BotCrypto
from storage.chat_models import ChatCard
from storage.inbox_models import InboxMessage
from storage.models import Order, OrderStatus
from tests.fakes.wecom_server import FakeWeCom
from tests.handlers.test_sheet_chat import BATCH, xlsx

TOKEN = "lvyueToken"
ALNUM = string.ascii_letters + string.digits
AES = "".join(secrets.choice(ALNUM) for _ in range(43))  # EncodingAESKey: 43 alphanumerics
BOT_TOKEN = "lvyueBotToken"
BOT_AES = "".join(secrets.choice(ALNUM) for _ in range(43))


@pytest.fixture
async def fake():
    async with FakeWeCom() as server:
        yield server


@pytest.fixture
def wecom_settings(settings, fake):
    env = {"WECOM_CORP_ID": fake.corp_id, "WECOM_AGENT_ID": str(fake.agent_id),
           "WECOM_SECRET": fake.secret, "WECOM_TOKEN": TOKEN, "WECOM_AES_KEY": AES,
           "WECOM_API_BASE": fake.url, "WECOM_BOT_TOKEN": BOT_TOKEN,
           "WECOM_BOT_AES_KEY": BOT_AES}
    return replace(settings, env={k: Secret(v) for k, v in env.items()})


@pytest.fixture
async def client(world, wecom_settings, aiohttp_client):
    return await aiohttp_client(build(wecom_settings, manage_db=False))


def app_crypto(fake, corp_id=None):
    return AppCrypto(TOKEN, AES, corp_id or fake.corp_id)


def envelope(fake, plain: str, *, corp_id=None, nonce="n0nce", ts=None):
    enc, sig, ts = app_crypto(fake, corp_id).seal(plain, nonce, ts or str(int(time.time())))
    body = (f"<xml><ToUserName><![CDATA[{fake.corp_id}]]></ToUserName>"
            f"<Encrypt><![CDATA[{enc}]]></Encrypt><AgentID>{fake.agent_id}</AgentID></xml>")
    return body.encode(), {"msg_signature": sig, "timestamp": ts, "nonce": nonce}


def text_xml(fake, user, content, msg_id):
    return (f"<xml><ToUserName><![CDATA[{fake.corp_id}]]></ToUserName>"
            f"<FromUserName><![CDATA[{user}]]></FromUserName><CreateTime>{int(time.time())}"
            f"</CreateTime><MsgType><![CDATA[text]]></MsgType><Content><![CDATA[{content}]]>"
            f"</Content><MsgId>{msg_id}</MsgId><AgentID>{fake.agent_id}</AgentID></xml>")


def click_xml(fake, user, key, task_id, response_code, create_time):
    return (f"<xml><ToUserName><![CDATA[{fake.corp_id}]]></ToUserName>"
            f"<FromUserName><![CDATA[{user}]]></FromUserName><CreateTime>{create_time}"
            f"</CreateTime><MsgType><![CDATA[event]]></MsgType>"
            f"<Event><![CDATA[template_card_event]]></Event><EventKey><![CDATA[{key}]]>"
            f"</EventKey><TaskId><![CDATA[{task_id}]]></TaskId><CardType><![CDATA["
            f"button_interaction]]></CardType><ResponseCode><![CDATA[{response_code}]]>"
            f"</ResponseCode><AgentID>{fake.agent_id}</AgentID></xml>")


async def post(client, fake, plain, **kw):
    body, query = envelope(fake, plain, **kw)
    return await client.post("/wecom/callback", params=query, data=body)


async def until(condition, within=5.0):
    """Wait for the background work (bounded); fail with the last state otherwise."""
    deadline = time.monotonic() + within
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail("timed out waiting for the bot's background work")
        await asyncio.sleep(0.02)


async def test_url_verification(client, fake):
    crypto = app_crypto(fake)
    enc, sig, ts = crypto.seal("echo-1234", "nn", str(int(time.time())))
    resp = await client.get("/wecom/callback", params={
        "msg_signature": sig, "timestamp": ts, "nonce": "nn", "echostr": enc})
    assert resp.status == 200 and await resp.text() == "echo-1234"
    resp = await client.get("/wecom/callback", params={
        "msg_signature": "0" * 40, "timestamp": ts, "nonce": "nn", "echostr": enc})
    assert resp.status == 403


async def test_text_is_acknowledged_at_once_and_answered_through_the_api(client, fake):
    resp = await post(client, fake, text_xml(fake, "zhangwei", "帮助", 10001))
    assert resp.status == 200 and await resp.text() == ""
    await until(lambda: fake.delivered("zhangwei"))
    d = fake.delivered("zhangwei")[0]
    assert d.msgtype == "text" and "查库存" in d.payload["content"]


async def test_a_retried_callback_is_answered_once_also_after_a_restart(
        client, fake, wecom_settings, aiohttp_client):
    plain = text_xml(fake, "zhangwei", "帮助", 10002)
    assert (await post(client, fake, plain)).status == 200
    assert (await post(client, fake, plain)).status == 200
    await until(lambda: fake.delivered("zhangwei"))
    restarted = await aiohttp_client(build(wecom_settings, manage_db=False))
    assert (await post(restarted, fake, plain)).status == 200
    await asyncio.sleep(0.2)  # give a wrongly accepted duplicate the chance to show
    assert len(fake.delivered("zhangwei")) == 1


@pytest.mark.parametrize("case", ["bad_signature", "malformed_xml", "bad_base64",
                                  "wrong_receiver", "oversized", "missing_query"])
async def test_bad_callbacks_are_refused_and_nothing_is_processed(client, fake, case):
    plain = text_xml(fake, "zhangwei", "帮助", 10003)
    body, query = envelope(fake, plain)
    if case == "bad_signature":
        query["msg_signature"] = "f" * 40
    elif case == "malformed_xml":
        body = b"<xml><Encrypt>"
    elif case == "bad_base64":
        from integrations.wecom_crypto import signature
        query["msg_signature"] = signature(TOKEN, query["timestamp"], query["nonce"], "@@@")
        body = b"<xml><Encrypt><![CDATA[@@@]]></Encrypt></xml>"
    elif case == "wrong_receiver":
        body, query = envelope(fake, plain, corp_id="wwSomeoneElse0001")
    elif case == "oversized":
        body = b"<xml>" + b"x" * (70 * 1024) + b"</xml>"
    elif case == "missing_query":
        query = {}
    resp = await client.post("/wecom/callback", params=query, data=body)
    expected = {"bad_signature": 403, "oversized": 413}.get(case, 400)
    assert resp.status == expected
    await asyncio.sleep(0.1)
    assert fake.deliveries == [] and await InboxMessage.all().count() == 0


async def test_order_card_and_a_click_that_confirms_it_in_place(client, fake):
    text = "C0001 OIL00001 x3 送浙江省杭州市西湖区文三路100号"
    assert (await post(client, fake, text_xml(fake, "zhangwei", text, 10004))).status == 200
    await until(lambda: fake.delivered("zhangwei"))
    card_msg = fake.delivered("zhangwei")[0]
    assert card_msg.msgtype == "template_card"
    card = card_msg.payload
    no = card["button_list"][0]["key"].split(":")[2]
    order = await Order.get(no=no)
    assert order.status == OrderStatus.draft and order.channel == "wecom"
    # The fake records the card before its answer (with the code) reaches the bot.
    deadline = time.monotonic() + 5
    while (stored := await ChatCard.get(task_id=card["task_id"])).response_code is None:
        assert time.monotonic() < deadline, "the card's response code was not stored"
        await asyncio.sleep(0.02)
    assert stored.response_code == card_msg.response_code
    click = click_xml(fake, "zhangwei", f"ord:confirm:{no}", card["task_id"],
                      card_msg.response_code, int(time.time()))
    assert (await post(client, fake, click)).status == 200
    await until(lambda: fake.updates)
    assert (await Order.get(no=no)).status == OrderStatus.allocated
    update = fake.updates[0]
    assert update["template_card"]["main_title"]["title"].startswith("订单已确认")
    # A second click (a new event) on the finished card changes nothing.
    again = click_xml(fake, "zhangwei", f"ord:confirm:{no}", card["task_id"],
                      "another-code", int(time.time()) + 1)
    assert (await post(client, fake, again)).status == 200
    await asyncio.sleep(0.2)
    assert len(fake.updates) == 1 and (await ChatCard.get(task_id=card["task_id"])).state == \
        "confirmed"


def bot_envelope(payload: dict[str, Any], nonce="bn"):
    crypto = BotCrypto(BOT_TOKEN, BOT_AES)
    enc, sig, ts = crypto.seal(json.dumps(payload, ensure_ascii=False), nonce,
                               str(int(time.time())))
    return json.dumps({"encrypt": enc}), {"msg_signature": sig, "timestamp": ts, "nonce": nonce}


async def bot_post(client, payload):
    body, query = bot_envelope(payload)
    resp = await client.post("/wecom/aibot", params=query, data=body)
    text = await resp.text()
    if resp.status != 200 or not text:
        return resp.status, None
    env = json.loads(text)
    crypto = BotCrypto(BOT_TOKEN, BOT_AES)
    crypto.check(env["msgsignature"], env["timestamp"], env["nonce"], env["encrypt"])
    return resp.status, json.loads(crypto.open(env["encrypt"]))


def group_text(user, content, msgid):
    return {"msgid": msgid, "aibotid": "AIBOT", "chatid": "wrk_mgr_group", "chattype": "group",
            "from": {"userid": user}, "msgtype": "text", "text": {"content": content}}


async def test_group_at_mention_commands_go_through_the_robot_with_roles(client, service):
    from bot.ordering import LineInput, PlaceOrder

    out = await service.place(PlaceOrder("C0001", [LineInput("OIL00001", 2)]))
    await service.confirm(out.order.no)
    status, reply = await bot_post(client, group_text("zhangwei", f"@履约助手 加急 {out.order.no}",
                                                      "m1"))
    assert status == 200 and reply["msgtype"] == "stream"
    assert "只有经理" in reply["stream"]["content"] and reply["stream"]["finish"] is True
    status, reply = await bot_post(client, group_text("lina", f"@履约助手 加急 {out.order.no}",
                                                      "m2"))
    assert "已加急" in reply["stream"]["content"]
    assert (await Order.get(no=out.order.no)).priority == 1
    # WeCom's retry of m2 (its answer was lost): the same answer again, nothing done twice
    status, again = await bot_post(client, group_text("lina", "@履约助手 加急 x", "m2"))
    assert status == 200 and again == reply
    assert (await Order.get(no=out.order.no)).priority == 1
    status, reply = await bot_post(client, group_text("lina", "@履约助手 看板", "m3"))
    assert "今日看板" in reply["stream"]["content"]


async def test_a_full_backlog_asks_wecom_to_retry_and_stores_nothing(
        world, wecom_settings, aiohttp_client, fake, monkeypatch):
    from handlers import wecom_callback

    monkeypatch.setattr(wecom_callback, "N_WORKERS", 0)  # nobody works the queue
    monkeypatch.setattr(wecom_callback, "BACKLOG", 1)
    client = await aiohttp_client(build(wecom_settings, manage_db=False))
    assert (await post(client, fake, text_xml(fake, "zhangwei", "帮助", 20001))).status == 200
    resp = await post(client, fake, text_xml(fake, "zhangwei", "帮助", 20002))
    assert resp.status == 503
    assert await InboxMessage.filter(key__contains="20002").count() == 0
    assert await InboxMessage.filter(key__contains="20001").count() == 1


async def test_a_reply_wecom_could_not_take_goes_to_the_outbox_and_arrives_later(client, fake):
    from handlers.keys import OUTBOX
    from storage.outbox_models import OutboxNotification, OutboxStatus

    fake.garble("message/send", status=502)  # WeCom's gateway fails once
    assert (await post(client, fake, text_xml(fake, "zhangwei", "帮助", 30001))).status == 200
    rows: list = []

    async def queued() -> bool:
        rows[:] = await OutboxNotification.filter(event="chat_reply",
                                                  status=OutboxStatus.pending)
        return bool(rows)

    deadline = time.monotonic() + 5
    while not await queued():
        assert time.monotonic() < deadline, "the failed reply was not queued for a retry"
        await asyncio.sleep(0.05)
    assert fake.delivered("zhangwei") == []
    [row] = rows
    assert (row.channel, row.recipient, row.attempts) == ("wecom_chat", "zhangwei", 1)
    assert row.dedup_key.startswith("reply:app:msg:30001:")
    await OutboxNotification.filter(id=row.id).update(next_attempt_ms=0)  # its back-off is over
    assert await client.app[OUTBOX].run_once() == 1
    [d] = fake.delivered("zhangwei")
    assert d.msgtype == "text" and "查库存" in d.payload["content"]
    await row.refresh_from_db()
    assert row.status == OutboxStatus.sent


def robot_single(payload):
    return {**payload, "chattype": "single", "chatid": None}


def card_click(user, key, task_id, msgid):
    return {"msgid": msgid, "aibotid": "AIBOT", "chattype": "single",
            "from": {"userid": user}, "msgtype": "event",
            "event": {"eventtype": "template_card_event", "template_card_event": {
                "card_type": "button_interaction", "event_key": key, "task_id": task_id}}}


async def test_an_order_card_is_confirmed_in_place_by_the_robots_passive_reply(client):
    status, reply = await bot_post(client, robot_single(group_text(
        "zhangwei", "C0001 曼牌空气滤清器C2433 x10", "g1")))
    assert status == 200 and reply["msgtype"] == "template_card", reply
    card = reply["template_card"]
    confirm = next(b["key"] for b in card["button_list"] if b["text"] == "确认下单")
    no = confirm.rsplit(":", 1)[1]
    status, reply = await bot_post(client, card_click("zhangwei", confirm, card["task_id"],
                                                      "g2"))
    # WC/101031: response_type update_template_card, the callback's task_id, no userids
    assert reply["response_type"] == "update_template_card" and "userids" not in reply
    assert reply["template_card"]["task_id"] == card["task_id"]
    assert reply["template_card"]["main_title"]["title"] == f"订单已确认 {no}"
    assert (await Order.get(no=no)).status == OrderStatus.allocated


async def test_robot_messages_without_msgid_are_told_apart_by_their_content(client):
    """A callback without msgid was keyed `bot:None`: every later one was dropped."""
    first = {**group_text("lina", "@履约助手 看板", None), "create_time": 1764000000}
    del first["msgid"]
    second = {**first, "text": {"content": "@履约助手 帮助"}}
    status, reply = await bot_post(client, first)
    assert status == 200 and "今日看板" in reply["stream"]["content"]
    status, reply2 = await bot_post(client, second)
    assert status == 200 and "查库存" in reply2["stream"]["content"]
    status, again = await bot_post(client, first)  # WeCom's retry of the first
    assert again == reply
    assert await InboxMessage.filter(key__startswith="bot:sha256:").count() == 2


async def test_edits_in_words_update_the_card_while_codes_last_then_send_it_anew(client, fake):
    """Each response_code updates a card once: the send's, then a click's; a third edit in a
    row has none left, so the changed card comes as a new message under a new task id."""
    text = "C0001 OIL00001 x3 送浙江省杭州市西湖区文三路100号"
    assert (await post(client, fake, text_xml(fake, "zhangwei", text, 20001))).status == 200
    await until(lambda: fake.delivered("zhangwei"))
    card = fake.delivered("zhangwei")[0].payload
    no = card["button_list"][0]["key"].split(":")[2]
    deadline = time.monotonic() + 5
    while (await ChatCard.get(task_id=card["task_id"])).response_code is None:
        assert time.monotonic() < deadline
        await asyncio.sleep(0.02)
    await post(client, fake, text_xml(fake, "zhangwei", "第1行改成x5", 20002))
    await until(lambda: len(fake.updates) == 1)
    assert "×5" in fake.updates[0]["template_card"]["horizontal_content_list"][0]["value"]
    # 修改 clicked: its code is kept for the next edit (the reply itself is a text)
    current = (await ChatCard.get(task_id=card["task_id"])).order_no
    edit = click_xml(fake, "zhangwei", f"ord:edit:{current}", card["task_id"],
                     fake.click_code(), int(time.time()))
    await post(client, fake, edit)
    await until(lambda: len(fake.delivered("zhangwei")) == 2)
    await post(client, fake, text_xml(fake, "zhangwei", "第1行改成x6", 20003))
    await until(lambda: len(fake.updates) == 2)
    assert "×6" in fake.updates[1]["template_card"]["horizontal_content_list"][0]["value"]
    await post(client, fake, text_xml(fake, "zhangwei", "第1行改成x7", 20004))
    await until(lambda: len(fake.delivered("zhangwei")) == 3)
    anew = fake.delivered("zhangwei")[2]
    assert anew.msgtype == "template_card" and anew.payload["task_id"] != card["task_id"]
    assert "×7" in anew.payload["horizontal_content_list"][0]["value"]
    assert len(fake.updates) == 2
    stored = await ChatCard.get(task_id=anew.payload["task_id"])
    assert stored.order_no != no and (await Order.get(no=stored.order_no)).status == \
        OrderStatus.draft


# ---- a spreadsheet sent to the app (handlers/chat/sheets.py) ------------------------------

def file_xml(fake, user, media_id, msg_id):
    return (f"<xml><ToUserName><![CDATA[{fake.corp_id}]]></ToUserName>"
            f"<FromUserName><![CDATA[{user}]]></FromUserName><CreateTime>{int(time.time())}"
            f"</CreateTime><MsgType><![CDATA[file]]></MsgType><MediaId><![CDATA[{media_id}]]>"
            f"</MediaId><MsgId>{msg_id}</MsgId><AgentID>{fake.agent_id}</AgentID></xml>")


async def test_a_sheet_sent_in_wecom_is_downloaded_and_answered_with_cards(client, fake):
    media_id = fake.add_media("批量订单.xlsx", xlsx(BATCH))
    resp = await post(client, fake, file_xml(fake, "zhangwei", media_id, 20001))
    assert resp.status == 200 and await resp.text() == ""
    await until(lambda: len(fake.delivered("zhangwei")) >= 3)
    got = fake.delivered("zhangwei")  # sent side by side: in no particular order
    [summary] = [d for d in got if d.msgtype == "text"]
    cards = [d for d in got if d.msgtype != "text"]
    assert "生成 2 张订单" in summary.payload["content"]
    assert "第5行：商品编码“XYZ99999”不存在" in summary.payload["content"]
    assert [c.msgtype for c in cards] == ["template_card", "template_card"]
    assert len(fake.requests("media/get")) == 1
    assert await Order.all().count() == 2


async def test_an_expired_media_id_is_answered_with_a_resend_request(client, fake):
    media_id = fake.add_media("a.xlsx", xlsx(BATCH))
    fake.advance(3 * 24 * 3600 + 1)
    assert (await post(client, fake, file_xml(fake, "zhangwei", media_id, 20002))).status == 200
    await until(lambda: fake.delivered("zhangwei"))
    [reply] = fake.delivered("zhangwei")
    assert "文件下载失败" in reply.payload["content"] and "重新发送" in reply.payload["content"]
    assert await Order.all().count() == 0
