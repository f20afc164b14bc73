"""integrations.wecom_crypto against Tencent's published vectors and an independent oracle.

Vectors: sbzhu/weworkapi_python `callback/Sample.py`@609f460 (XML, wecom.md §1.7) and
`callback_json/Sample.py` (JSON; its plaintext is, as published, not valid JSON).
The oracle below re-implements WXBizJsonMsgCrypt's Prpcrypt with `cryptography` only, so the
intelligent-robot path (receive id "") is checked against code that shares nothing with
wechatpy.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import struct

import pytest
import xmltodict
from cryptography.hazmat.primitives import padding
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from wechatpy.enterprise.crypto import WeChatCrypto

from integrations.wecom_crypto import (
    AppCrypto,
    BadPayload,
    BadSignature,
    BotCrypto,
    aes_key,
    signature,
)

TOKEN = "hJqcu3uJ9Tn2gXPmxx2w9kkCkCE2EPYo"
AES_KEY = "6qkdMrq68nTKduznJYO1A37W2oEgpkMUvkttRToqhUt"
CORP_ID = "ww1436e0e65a779aee"

GET = {
    "msg_signature": "012bc692d0a58dd4b10f8dfe5c4ac00ae211ebeb",
    "timestamp": "1476416373",
    "nonce": "47744683",
    "echostr": ("fsi1xnbH4yQh0+PJxcOdhhK6TDXkjMyhEPA7xB2TGz6b+g7xyAbEkRxN/3cNXW9qdqjnoVz"
                "EtpbhnFyq6SVHyA=="),
}
POST_ENCRYPT = (
    "Kl7kjoSf6DMD1zh7rtrHjFaDapSCkaOnwu3bqLc5tAybhhMl9pFeK8NslNPVdMwmBQTNoW4mY7AIjeLvEl3NyeTk"
    "AgGzBhzTtRLNshw2AEew+kkYcD+Fq72Kt00fT0WnN87hGrW8SqGc+NcT3mu87Ha3dz1pSDi6GaUA6A0sqfde0VJP"
    "QbZ9U+3JWcoD4Z5jaU0y9GSh010wsHF8KZD24YhmZH4ch4Ka7ilEbjbfvhKkNL65HHL0J6EYJIZUC2pFrdkJ7Mhm"
    "EbU2qARR4iQHE7wy24qy0cRX3Mfp6iELcDNfSsPGjUQVDGxQDCWjayJOpcwocugux082f49HKYg84EpHSGXAyh+/"
    "oxwaWbvL6aSDPOYuPDGOCI8jmnKiypE+"
)
POST = {"msg_signature": "0c3914025cb4b4d68103f6bfc8db550f79dcf48e",
        "timestamp": "1476422779", "nonce": "1597212914"}
POST_BODY = (
    "<xml><ToUserName><![CDATA[ww1436e0e65a779aee]]></ToUserName>\n"
    f"<Encrypt><![CDATA[{POST_ENCRYPT}]]></Encrypt>\n"
    "<AgentID><![CDATA[1000002]]></AgentID>\n</xml>"
).encode()
JSON_ENCRYPT = (
    "cjhLUX7UU4yCSelv1vz7T0zT8huF51bAMVWriNvO1FMegHrQZNrtvRxbwf0fUPsFvwqR0U0fgiJNEA5Y30F2MoI2"
    "S7vv3EjVQ68C0cjw9frBoUE2Hj0BvFp9h3u6Vbsg4lc1C8AtHdaN8orKuNKkLRLuYEL52R1J3v8olJGZRLnRdVKI"
    "ivixmX/eQpzgeExtp20jI1HxRP1AAZ6xZoILdqDPO549LO4WeG+685JRUTdiwcY5fjZlqeMxuT4PpMn1X9OWsS7N"
    "Rj06Wa5E3Tvg4twjWp39KPfOdRte6P1T4JU="
)
JSON_POST = {"msg_signature": "e3647471e395139e2308c1fa963f2d648a00b90e",
             "timestamp": "1409659813", "nonce": "1372623149"}


@pytest.fixture
def app() -> AppCrypto:
    return AppCrypto(TOKEN, AES_KEY, CORP_ID)


# ---- the oracle: WXBizJsonMsgCrypt's Prpcrypt, with `cryptography` ---------------------------

KEY = base64.b64decode(AES_KEY + "=")


def oracle_encrypt(text: str, receive_id: str, prefix: bytes = b"0123456789abcdef") -> str:
    raw = prefix + struct.pack(">I", len(text.encode())) + text.encode() + receive_id.encode()
    pad = 32 - len(raw) % 32
    raw += bytes([pad]) * pad
    enc = Cipher(algorithms.AES(KEY), modes.CBC(KEY[:16])).encryptor()
    return base64.b64encode(enc.update(raw) + enc.finalize()).decode()


def oracle_decrypt(encrypted: str) -> tuple[str, str, int]:
    """(message, receive id, pad) exactly as the official library slices the plaintext."""
    dec = Cipher(algorithms.AES(KEY), modes.CBC(KEY[:16])).decryptor()
    plain = dec.update(base64.b64decode(encrypted)) + dec.finalize()
    pad = plain[-1]
    content = plain[16:-pad]
    length = struct.unpack(">I", content[:4])[0]
    return content[4:4 + length].decode(), content[4 + length:].decode(), pad


def sign(timestamp: str, nonce: str, encrypted: str) -> str:
    return hashlib.sha1("".join(sorted([TOKEN, timestamp, nonce, encrypted])).encode()).hexdigest()


def xml_body(encrypted: str) -> bytes:
    return f"<xml><ToUserName><![CDATA[{CORP_ID}]]></ToUserName><Encrypt><![CDATA[{encrypted}]]>" \
           f"</Encrypt><AgentID><![CDATA[1000002]]></AgentID></xml>".encode()


# ---- known answers (wecom.md §1.7) --------------------------------------------------------------

def test_signature_known_answer():
    assert signature(TOKEN, GET["timestamp"], GET["nonce"], GET["echostr"]) == GET["msg_signature"]


def test_url_verification_known_answer(app):
    assert app.verify_url(**GET) == "1288432023552776189"


def test_url_verification_tolerates_plus_decoded_as_space(app):
    mangled = {**GET, "echostr": GET["echostr"].replace("+", " ")}
    assert app.verify_url(**mangled) == "1288432023552776189"


def test_message_known_answer(app):
    msg = app.decrypt(POST["msg_signature"], POST["timestamp"], POST["nonce"], POST_BODY)
    assert msg == {"ToUserName": CORP_ID, "FromUserName": "ChenJiaShun",
                   "CreateTime": "1476422779", "MsgType": "text", "Content": "你好",
                   "MsgId": "1456453720", "AgentID": "1000002"}
    assert type(msg) is dict


def test_official_sample_pads_to_32_byte_blocks():
    """Pad 22 > 16: a 16-byte-block PKCS#7 unpadder rejects real WeCom payloads (§1.4)."""
    _, receive_id, pad = oracle_decrypt(POST_ENCRYPT)
    assert (receive_id, pad) == (CORP_ID, 22)
    dec = Cipher(algorithms.AES(KEY), modes.CBC(KEY[:16])).decryptor()
    plain = dec.update(base64.b64decode(POST_ENCRYPT)) + dec.finalize()
    unpadder = padding.PKCS7(128).unpadder()
    with pytest.raises(ValueError, match="padding"):
        unpadder.update(plain) + unpadder.finalize()


# ---- refusals ---------------------------------------------------------------------------------

def test_wrong_signature(app):
    with pytest.raises(BadSignature):
        app.verify_url(**{**GET, "msg_signature": "0" * 40})
    with pytest.raises(BadSignature):
        app.decrypt("0" * 40, POST["timestamp"], POST["nonce"], POST_BODY)


def test_tampered_ciphertext_fails_the_signature(app):
    tampered = POST_BODY.replace(b"Kl7k", b"Kl7j")
    with pytest.raises(BadSignature):
        app.decrypt(POST["msg_signature"], POST["timestamp"], POST["nonce"], tampered)


def test_wrong_token_fails_the_signature():
    other = AppCrypto("another-token", AES_KEY, CORP_ID)
    with pytest.raises(BadSignature):
        other.verify_url(**GET)


def test_wrong_corp_id_is_a_bad_payload():
    other = AppCrypto(TOKEN, AES_KEY, "ww0000000000000000")
    with pytest.raises(BadPayload, match="receive id"):
        other.decrypt(POST["msg_signature"], POST["timestamp"], POST["nonce"], POST_BODY)
    with pytest.raises(BadPayload, match="receive id"):
        other.verify_url(**GET)


@pytest.mark.parametrize("body", [
    b"not xml at all",
    b"<xml><Encrypt>abc</Encrypt>",  # truncated
    b"<xml><ToUserName>x</ToUserName></xml>",  # no Encrypt
    b"<other><Encrypt>abc</Encrypt></other>",
    b"<xml/>",
    b'<!DOCTYPE x [<!ENTITY a "aaaa">]><xml><Encrypt>&a;</Encrypt></xml>',
])
def test_malformed_envelopes_are_bad_payloads(app, body):
    with pytest.raises(BadPayload):
        app.decrypt(POST["msg_signature"], POST["timestamp"], POST["nonce"], body)


@pytest.mark.parametrize("encrypted", [
    "!!!not-base64!!!",
    base64.b64encode(b"short").decode(),  # not a whole AES block
    base64.b64encode(b"\0" * 32).decode(),  # decrypts to garbage
])
def test_signed_but_undecryptable_is_a_bad_payload(app, encrypted):
    ts, nonce = "1476422779", "1597212914"
    with pytest.raises(BadPayload):
        app.decrypt(sign(ts, nonce, encrypted), ts, nonce, xml_body(encrypted))


def test_signed_plaintext_that_is_not_xml_is_a_bad_payload(app):
    encrypted = oracle_encrypt("this is not xml", CORP_ID)
    ts, nonce = "1", "2"
    with pytest.raises(BadPayload, match="XML"):
        app.decrypt(sign(ts, nonce, encrypted), ts, nonce, xml_body(encrypted))


def test_bad_aes_key_is_refused_at_construction():
    with pytest.raises(ValueError, match="43"):
        AppCrypto(TOKEN, AES_KEY[:-1], CORP_ID)
    with pytest.raises(ValueError, match="43"):
        aes_key(AES_KEY[:-1] + "=")


# ---- passive replies --------------------------------------------------------------------------

REPLY = ("<xml><ToUserName><![CDATA[ChenJiaShun]]></ToUserName><FromUserName><![CDATA[ww1436e0e65a"
         "779aee]]></FromUserName><CreateTime>1476422779</CreateTime><MsgType><![CDATA[text]]>"
         "</MsgType><Content><![CDATA[收到，订单 SO123 已建草稿]]></Content></xml>")


def test_reply_envelope_round_trips(app):
    out = xmltodict.parse(app.encrypt_reply(REPLY, POST["nonce"], POST["timestamp"]))["xml"]
    assert out["TimeStamp"] == POST["timestamp"] and out["Nonce"] == POST["nonce"]
    assert out["MsgSignature"] == sign(POST["timestamp"], POST["nonce"], out["Encrypt"])
    message, receive_id, pad = oracle_decrypt(out["Encrypt"])
    assert (message, receive_id) == (REPLY, CORP_ID) and 1 <= pad <= 32
    assert len(base64.b64decode(out["Encrypt"])) % 32 == 0


def test_reply_is_readable_by_wechatpy(app):
    reply = app.encrypt_reply(REPLY, "nonce123")
    out = xmltodict.parse(reply)["xml"]
    plain = WeChatCrypto(TOKEN, AES_KEY, CORP_ID).decrypt_message(
        reply, out["MsgSignature"], out["TimeStamp"], "nonce123")
    assert plain == REPLY


def test_reply_prefix_is_random(app):
    a = xmltodict.parse(app.encrypt_reply(REPLY, "n", "1"))["xml"]["Encrypt"]
    b = xmltodict.parse(app.encrypt_reply(REPLY, "n", "1"))["xml"]["Encrypt"]
    assert a != b


# ---- intelligent robot: JSON, receive id "" ----------------------------------------------------

@pytest.fixture
def bot() -> BotCrypto:
    return BotCrypto(TOKEN, AES_KEY)


AIBOT_MSG = json.dumps({
    "msgid": "CAIQz7/MjQYY/NGagIOAgAMgl8jK/gM=", "aibotid": "AIBOTID", "chatid": "CHATID",
    "chattype": "group", "from": {"userid": "lina"}, "response_url": "https://example.invalid/r",
    "msgtype": "text", "text": {"content": "@订单助手 加急 SO123"},
}, ensure_ascii=False)


def test_json_known_answer_signature_and_decryption():
    """Tencent's JSON sample: the signature and AES layer check out, the JSON does not."""
    sample = BotCrypto(TOKEN, AES_KEY, receive_id=CORP_ID)
    body = ('{"ToUserName": "wx5823bf96d3bd56c7", "encrypt": "' + JSON_ENCRYPT
            + '", "AgentID": 218}').encode()
    with pytest.raises(BadPayload, match="malformed JSON"):
        sample.decrypt(JSON_POST["msg_signature"], JSON_POST["timestamp"], JSON_POST["nonce"],
                       body)
    text = sample.open(JSON_ENCRYPT)
    assert text.startswith('{ "ToUserName": "wx5823bf96d3bd56c7", "FromUserName": :mycreate"')
    with pytest.raises(BadPayload, match="receive id"):  # the robot's receive id is ""
        BotCrypto(TOKEN, AES_KEY).open(JSON_ENCRYPT)


def test_bot_decrypts_what_the_official_scheme_encrypts_with_empty_receive_id(bot):
    encrypted = oracle_encrypt(AIBOT_MSG, "")
    body = json.dumps({"encrypt": encrypted}, separators=(",", ":")).encode()
    msg = bot.decrypt(sign("1700000000", "n0nce", encrypted), "1700000000", "n0nce", body)
    assert msg["from"] == {"userid": "lina"}
    assert msg["text"]["content"] == "@订单助手 加急 SO123"


def test_bot_url_verification_with_empty_receive_id(bot):
    echostr = oracle_encrypt("5927782489442352469", "")
    assert bot.verify_url(sign("1", "2", echostr), "1", "2", echostr) == "5927782489442352469"


def test_bot_refuses_an_app_payload(bot):
    encrypted = oracle_encrypt(AIBOT_MSG, CORP_ID)
    with pytest.raises(BadPayload, match="receive id"):
        bot.decrypt(sign("1", "2", encrypted), "1", "2",
                    json.dumps({"encrypt": encrypted}, separators=(",", ":")).encode())


@pytest.mark.parametrize("body", [b"", b"[]", b'{"Encrypt":"x"}', b'{"encrypt":5}', b"\xff\xfe"])
def test_bot_malformed_envelopes(bot, body):
    with pytest.raises(BadPayload):
        bot.decrypt("0" * 40, "1", "2", body)


def test_bot_reply_round_trips_through_the_oracle(bot):
    reply = {"msgtype": "stream",
             "stream": {"id": "s1", "finish": True, "content": "已加急 SO123"}}
    out = json.loads(bot.encrypt_reply(reply, "nonce-1", "1700000001"))
    assert set(out) == {"encrypt", "msgsignature", "timestamp", "nonce"}
    assert out["msgsignature"] == sign("1700000001", "nonce-1", out["encrypt"])
    message, receive_id, _ = oracle_decrypt(out["encrypt"])
    assert receive_id == "" and json.loads(message) == reply


def test_bot_random_prefix_is_sixteen_bytes(bot):
    dec = Cipher(algorithms.AES(KEY), modes.CBC(KEY[:16])).decryptor()
    encrypted = json.loads(bot.encrypt_reply("{}", "n", "1"))["encrypt"]
    plain = dec.update(base64.b64decode(encrypted)) + dec.finalize()
    assert struct.unpack(">I", plain[16:20])[0] == 2


def test_oracle_matches_wechatpy_on_random_messages():
    """Sanity of the oracle itself: wechatpy reads what it writes, for the app path."""
    crypto = WeChatCrypto(TOKEN, AES_KEY, CORP_ID)
    for _ in range(5):
        text = "<xml><Content>" + os.urandom(8).hex() + "</Content></xml>"
        encrypted = oracle_encrypt(text, CORP_ID)
        assert crypto.decrypt_message({"Encrypt": encrypted}, sign("1", "2", encrypted),
                                      "1", "2") == text
