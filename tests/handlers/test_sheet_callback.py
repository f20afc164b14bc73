"""A spreadsheet sent to the app in WeCom: an encrypted `file` message through the real
callback, the file fetched from the fake WeCom's media/get, cards sent back through its API."""

import time

from storage.models import Order
from tests.handlers.test_sheet_chat import BATCH, xlsx
from tests.handlers.test_wecom_callback import (  # noqa: F401 (fixtures)
    client,
    fake,
    post,
    until,
    wecom_settings,
)


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
