"""Fake Kuaidi100: /poll/query.do, /poll (subscribe), /label/order, and a push producer.

Enforces what carriers.md §1 and §6 describe:
- query: form customer/sign/param, sign = UPPER(MD5(param + key + customer)) (503 otherwise);
  `com` must be known (400); SF/ZTO numbers need the matching phone (408); unknown numbers
  answer 500 查询无结果. A number queried again within 30 minutes, or more than 48 times in
  24 h, is locked (锁单): for 24 h the answers keep the snapshot taken at lock time.
- subscribe: form schema=json/param with the key inside (600 otherwise); 501 on a repeat.
- label/order: form method/key/t/param/sign, sign = UPPER(MD5(param + t + key + secret));
  `kuaidicom` must be a known company code, and when the fake is given the courier accounts
  (`accounts`: kuaidicom → partnerId) the waybill is issued only under that courier's
  partnerId; the number is the courier's (ZTO 7310…, YTO YT…). The same orderId with
  reorder=false returns the first result. Its error codes are not public: 30001/30002/30004
  below are this fake's own.
Times are China local time without zone, as Kuaidi100 sends them.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from tests.fakes import FakeCarrierServer, forced, form_body, form_fields, json_reply

KNOWN = {"shunfeng", "shunfengkuaiyun", "zhongtong", "jd", "yuantong", "yunda", "shentong",
         "jtexpress", "ems", "youzhengguonei", "debangkuaidi"}
# How each courier's numbers look (the e-waybill answer carries the courier's own number).
NUMBER_PREFIX = {"zhongtong": "7310", "yuantong": "YT", "shentong": "77", "yunda": "4312",
                 "jtexpress": "JT", "shunfeng": "SF", "jd": "JDV", "ems": "11"}
PHONE_REQUIRED = {"shunfeng", "shunfengkuaiyun", "zhongtong"}
LOCK_GAP_S = 30 * 60
LOCK_FOR_S = 24 * 3600
MAX_PER_DAY = 48
NAMES = {"0": "在途", "1": "揽收", "2": "疑难", "3": "签收", "4": "退签", "5": "派件",
         "6": "退回", "7": "转投", "8": "清关", "14": "拒签"}


def md5_upper(text: str) -> str:
    return hashlib.md5(text.encode("utf-8")).hexdigest().upper()


def main_state(code: str) -> str:
    if code.startswith("100"):
        return "0"
    return code[0] if len(code) == 3 else code


def data_item(ftime: str, context: str, area: str, status_code: str) -> dict[str, str]:
    """One `data[]` element as resultv2=4 returns it."""
    return {"time": ftime, "ftime": ftime, "context": context, "location": area,
            "areaCode": "", "areaName": area, "status": NAMES[main_state(status_code)],
            "statusCode": status_code}


@dataclass
class Track:
    com: str
    phone: str
    items: list[dict[str, str]] = field(default_factory=list)  # oldest first


def last_result(num: str, com: str, items: list[dict[str, str]]) -> dict[str, Any]:
    """The query answer / push `lastResult`: a full snapshot, newest first."""
    newest = items[-1]["statusCode"] if items else "0"
    state = main_state(newest)
    return {"message": "ok", "nu": num, "ischeck": "1" if state == "3" else "0", "com": com,
            "status": "200", "condition": "F00", "state": state,
            "data": list(reversed(items))}


def push_param(num: str, com: str, items: list[dict[str, str]],
               status: str = "polling") -> str:
    return json.dumps({"status": status, "billstatus": "got", "message": "",
                       "lastResult": last_result(num, com, items)}, ensure_ascii=False)


def push_body(param: str, salt: str, sign: str | None = None) -> bytes:
    """The form Kuaidi100 POSTs to the callback URL: param + sign = MD5(param + salt)."""
    return form_body({"param": param, "sign": md5_upper(param + salt) if sign is None
                      else sign})


def snapshot_pushes(num: str, com: str, items: list[dict[str, str]], salt: str
                    ) -> list[bytes]:
    """One signed push per growing snapshot (after the 1st, 2nd, ... event)."""
    return [push_body(push_param(num, com, items[:n]), salt) for n in range(1, len(items) + 1)]


class FakeKuaidi100(FakeCarrierServer):
    def __init__(self, key: str = "K100KEY", customer: str = "K100CUSTOMER",
                 secret: str = "K100SECRET", salt: str = "K100SALT") -> None:
        super().__init__()
        self.key, self.customer, self.secret, self.salt = key, customer, secret, salt
        self.tracks: dict[str, Track] = {}
        self.queries: dict[str, list[float]] = {}
        self.locked: dict[str, tuple[float, dict[str, Any]]] = {}
        self.subscriptions: dict[str, dict[str, Any]] = {}
        self.labels: dict[str, dict[str, Any]] = {}
        self.accounts: dict[str, str] | None = None  # kuaidicom → partnerId, when checked
        self._serial = 0

    def add_track(self, num: str, com: str, phone: str, *items: dict[str, str]) -> None:
        self.tracks.setdefault(num, Track(com, phone)).items.extend(items)

    def add_routes(self, app: web.Application) -> None:
        app.router.add_post("/poll/query.do", self.query)
        app.router.add_post("/poll", self.subscribe)
        app.router.add_post("/label/order", self.label)

    # ---- real-time query -------------------------------------------------------------

    async def query(self, request: web.Request) -> web.Response:
        form = form_fields(await request.read())
        param = form.get("param", "")
        if (form.get("customer") != self.customer
                or form.get("sign") != md5_upper(param + self.key + self.customer)):
            return _refuse("503", "验证签名失败")
        if fault := forced(request):
            return _forced(fault)
        try:
            p = json.loads(param)
        except ValueError:
            return _refuse("400", "参数错误")
        return json_reply(self._answer(p))

    def _answer(self, p: dict[str, Any]) -> dict[str, Any]:
        com, num, phone = p.get("com", ""), p.get("num", ""), p.get("phone", "")
        if com not in KNOWN:
            return _body("400", "找不到对应公司")
        track = self.tracks.get(num)
        if track is None or track.com != com:
            return _body("500", "查询无结果，请隔段时间再查")
        if com in PHONE_REQUIRED and (not phone or not track.phone.endswith(phone[-4:])):
            return _body("408", "快递公司参数异常：验证码错误")
        result = self._snapshot(num, track)
        if p.get("order") == "asc":
            result = {**result, "data": list(reversed(result["data"]))}
        return result

    def _snapshot(self, num: str, track: Track) -> dict[str, Any]:
        now = self.now()
        times = [t for t in self.queries.get(num, []) if now - t < LOCK_FOR_S]
        lock = self.locked.get(num)
        if lock and now - lock[0] >= LOCK_FOR_S:
            del self.locked[num]
            lock = None
        if lock is None and times and (now - times[-1] < LOCK_GAP_S
                                       or len(times) >= MAX_PER_DAY):
            lock = (now, last_result(num, track.com, list(track.items)))
            self.locked[num] = lock
        self.queries[num] = [*times, now]
        return lock[1] if lock else last_result(num, track.com, list(track.items))

    # ---- subscribe -------------------------------------------------------------------

    async def subscribe(self, request: web.Request) -> web.Response:
        form = form_fields(await request.read())
        try:
            p = json.loads(form.get("param", ""))
        except ValueError:
            return json_reply(_body("700", "订阅参数错误"))
        if form.get("schema") != "json" or p.get("key") != self.key:
            return json_reply(_body("600", "您不是合法的订阅者（即授权Key出错）"))
        if fault := forced(request):
            return _forced(fault)
        if p.get("company") not in KNOWN or not p.get("parameters", {}).get("callbackurl"):
            return json_reply(_body("700", "订阅方的订阅数据存在错误（如不支持的快递公司、"
                                           "单号为空、单号超长等）或错误的回调地址"))
        if p.get("number") in self.subscriptions:
            return json_reply(_body("501", "重复订阅"))
        self.subscriptions[p["number"]] = p
        return json_reply({"result": True, "returnCode": "200", "message": "提交成功"})

    # ---- e-waybill -------------------------------------------------------------------

    async def label(self, request: web.Request) -> web.Response:
        form = form_fields(await request.read())
        param, t = form.get("param", ""), form.get("t", "")
        if (form.get("key") != self.key
                or form.get("sign") != md5_upper(param + t + self.key + self.secret)):
            return json_reply({"code": 30002, "message": "签名错误", "data": None})
        if fault := forced(request):
            return _forced_label(fault)
        p = json.loads(param)
        missing = _label_missing(form.get("method", ""), p)
        if missing:
            return json_reply({"code": 30001, "message": f"参数错误：{missing}", "data": None})
        if p["kuaidicom"] not in KNOWN:
            return json_reply({"code": 30001, "message": "参数错误：kuaidicom 不支持",
                               "data": None})
        if self.accounts is not None and (
                self.accounts.get(p["kuaidicom"]) != p.get("partnerId")):
            return json_reply({"code": 30004, "message": "电子面单账号错误：partnerId 不匹配",
                               "data": None})
        first = self.labels.get(p.get("orderId", ""))
        if first is None or p.get("reorder") is True:
            first = self._new_label(p)
        return json_reply({"code": 200, "message": "success", "time": 25, "data": first})

    def _new_label(self, p: dict[str, Any]) -> dict[str, Any]:
        self._serial += 1
        prefix = NUMBER_PREFIX.get(p["kuaidicom"], "K")
        data = {"taskId": f"T{self._serial:08d}", "kuaidinum": f"{prefix}{self._serial:010d}",
                "kuaidicom": p["kuaidicom"], "childNum": "", "returnNum": "", "label": "",
                "bulkpen": "300- H12 09", "orgName": "杭州西湖", "destName": "上海"}
        if p.get("orderId"):
            self.labels[p["orderId"]] = data
        return data


def _label_missing(method: str, p: dict[str, Any]) -> str:
    if method != "order":
        return "method"
    for path in ("kuaidicom", "cargo", "recMan.name", "recMan.mobile", "recMan.printAddr",
                 "sendMan.name", "sendMan.mobile", "sendMan.printAddr"):
        node: Any = p
        for part in path.split("."):
            node = node.get(part) if isinstance(node, dict) else None
        if not node:
            return path
    return ""


def _body(code: str, message: str) -> dict[str, Any]:
    return {"result": False, "returnCode": code, "message": message}


def _refuse(code: str, message: str) -> web.Response:
    return json_reply(_body(code, message))


def _forced(fault: str) -> web.Response:
    if fault == "rate_limit":  # Kuaidi100 documents no rate-limit code; plain HTTP 429
        return web.Response(status=429, headers={"Retry-After": "60"}, text="Too Many Requests")
    return _refuse("400", "找不到对应公司")


def _forced_label(fault: str) -> web.Response:
    if fault == "rate_limit":
        return web.Response(status=429, headers={"Retry-After": "60"}, text="Too Many Requests")
    return json_reply({"code": 30003, "message": "电子面单余额不足，请充值", "data": None})
