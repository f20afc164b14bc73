"""WeCom callback crypto: signature check, AES-256-CBC envelope, passive-reply encryption.

Two callers, one scheme (wecom.md §1, §4.3):

* `AppCrypto` - the self-built app callback (`/wecom/callback`): XML envelope, the
  receive id is the CorpID.
* `BotCrypto` - the intelligent robot callback (`/wecom/aibot`): JSON envelope
  (``{"encrypt": ...}``), the receive id is ``""`` (WC/101033).

The AES part (random(16) | msg_len(4, big-endian) | msg | receive id, PKCS#7 to 32 bytes,
IV = key[:16]) is wechatpy's `PrpCrypto`, which accepts an empty receive id as the official
WXBizJsonMsgCrypt does. The signature (sha1 over the sorted token, timestamp, nonce and
ciphertext) is computed here so it can be compared in constant time. Everything that goes
wrong with a request maps to one of two errors: `BadSignature` (answer 403) or
`BadPayload` (answer 400).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import re
import secrets
import string
import struct
import time
from typing import Any
from xml.parsers.expat import ExpatError

import xmltodict
from wechatpy.crypto.base import BasePrpCrypto
from wechatpy.exceptions import WeChatException

_AES_KEY = re.compile(r"^[A-Za-z0-9]{43}$")
_RANDOM_ALPHABET = string.ascii_letters + string.digits


class CallbackError(Exception):
    """A callback request that must be refused."""


class BadSignature(CallbackError):
    """msg_signature does not match: not from WeCom, or the token is wrong (answer 403)."""


class BadPayload(CallbackError):
    """The request is signed but cannot be read: bad base64, padding, receive id, XML or JSON."""


class _PrpCrypto(BasePrpCrypto):  # type: ignore[misc]
    """wechatpy's AES envelope with a random prefix from `secrets` instead of `random`."""

    def get_random_string(self) -> str:
        return "".join(secrets.choice(_RANDOM_ALPHABET) for _ in range(16))

    def encrypt(self, text: str, receive_id: str) -> bytes:
        return bytes(self._encrypt(text, receive_id))

    def decrypt(self, text: str, receive_id: str) -> str:
        return str(self._decrypt(text, receive_id, _WrongReceiveId))


class _WrongReceiveId(Exception):
    pass


def signature(token: str, timestamp: str, nonce: str, encrypted: str) -> str:
    """sha1 of the four values sorted as strings and joined (WC/91144), lowercase hex."""
    joined = "".join(sorted([token, timestamp, nonce, encrypted]))
    return hashlib.sha1(joined.encode("utf-8")).hexdigest()


def aes_key(encoding_aes_key: str) -> bytes:
    """The 32-byte AES key from the 43-character EncodingAESKey (base64 without the '=')."""
    if not _AES_KEY.match(encoding_aes_key):
        raise ValueError("EncodingAESKey must be 43 characters from [A-Za-z0-9]")
    return base64.b64decode(encoding_aes_key + "=")


class _Envelope:
    """Signature and AES for one (token, key, receive id); the format-specific parts are below."""

    def __init__(self, token: str, encoding_aes_key: str, receive_id: str) -> None:
        if not token:
            raise ValueError("the callback token is empty")
        self._token = token
        self._receive_id = receive_id
        self._prp = _PrpCrypto(aes_key(encoding_aes_key))

    def __repr__(self) -> str:
        return f"{type(self).__name__}(receive_id={self._receive_id!r})"

    def check(self, msg_signature: str, timestamp: str, nonce: str, encrypted: str) -> None:
        expected = signature(self._token, timestamp, nonce, encrypted)
        if not hmac.compare_digest(expected, msg_signature.lower()):
            raise BadSignature("msg_signature mismatch")

    def open(self, encrypted: str) -> str:
        """Decrypt a checked ciphertext to the message text."""
        try:
            return self._prp.decrypt(encrypted, self._receive_id)
        except _WrongReceiveId:
            raise BadPayload("receive id mismatch") from None
        except (binascii.Error, ValueError, struct.error, IndexError,
                UnicodeDecodeError, WeChatException) as exc:
            raise BadPayload(f"cannot decrypt: {type(exc).__name__}") from None

    def seal(self, text: str, nonce: str, timestamp: str | None) -> tuple[str, str, str]:
        """Encrypt a reply: (ciphertext, signature, timestamp)."""
        ts = timestamp or str(int(time.time()))
        encrypted = self._prp.encrypt(text, self._receive_id).decode("ascii")
        return encrypted, signature(self._token, ts, nonce, encrypted), ts

    def verify_url(self, msg_signature: str, timestamp: str, nonce: str, echostr: str) -> str:
        """The URL check (GET): the decrypted echostr, to be answered as the raw body."""
        # base64 has no spaces: a space is a '+' that a form-style decoder turned over.
        echostr = echostr.replace(" ", "+")
        self.check(msg_signature, timestamp, nonce, echostr)
        return self.open(echostr)


class AppCrypto(_Envelope):
    """The self-built app callback: encrypted XML, receive id = CorpID."""

    def __init__(self, token: str, encoding_aes_key: str, corp_id: str) -> None:
        if not corp_id:
            raise ValueError("the CorpID is empty")
        super().__init__(token, encoding_aes_key, corp_id)

    def decrypt(self, msg_signature: str, timestamp: str, nonce: str,
                body: bytes) -> dict[str, Any]:
        """The decrypted message as a plain dict of its XML fields (strings, nested dicts)."""
        encrypted = _xml_field(_parse_xml(body), "Encrypt")
        self.check(msg_signature, timestamp, nonce, encrypted)
        return _parse_xml(self.open(encrypted).encode("utf-8"))

    def encrypt_reply(self, xml: str, nonce: str, timestamp: str | None = None) -> str:
        """The passive reply envelope of wecom.md §1.5 around a plaintext reply XML."""
        encrypted, sig, ts = self.seal(xml, nonce, timestamp)
        return (f"<xml><Encrypt><![CDATA[{encrypted}]]></Encrypt>"
                f"<MsgSignature><![CDATA[{sig}]]></MsgSignature>"
                f"<TimeStamp>{ts}</TimeStamp>"
                f"<Nonce><![CDATA[{_cdata_safe(nonce)}]]></Nonce></xml>")


class BotCrypto(_Envelope):
    """The intelligent robot callback: encrypted JSON, receive id "" (WC/101033)."""

    def __init__(self, token: str, encoding_aes_key: str, receive_id: str = "") -> None:
        super().__init__(token, encoding_aes_key, receive_id)

    def decrypt(self, msg_signature: str, timestamp: str, nonce: str,
                body: bytes) -> dict[str, Any]:
        """The decrypted JSON message as a dict."""
        encrypted = _json_field(_parse_json(body), "encrypt")
        self.check(msg_signature, timestamp, nonce, encrypted)
        return _parse_json(self.open(encrypted).encode("utf-8"))

    def encrypt_reply(self, reply: dict[str, Any] | str, nonce: str,
                      timestamp: str | None = None) -> str:
        """The JSON reply envelope {encrypt, msgsignature, timestamp, nonce} as a string."""
        text = reply if isinstance(reply, str) else json.dumps(reply, ensure_ascii=False)
        encrypted, sig, ts = self.seal(text, nonce, timestamp)
        return json.dumps({"encrypt": encrypted, "msgsignature": sig,
                           "timestamp": ts, "nonce": nonce})


def _parse_xml(raw: bytes) -> dict[str, Any]:
    try:
        # xmltodict refuses entity declarations by default (no billion laughs).
        doc = xmltodict.parse(raw)
    except (ExpatError, ValueError) as exc:
        raise BadPayload(f"malformed XML: {exc}") from None
    root = doc.get("xml") if isinstance(doc, dict) else None
    if not isinstance(root, dict):
        raise BadPayload("XML root is not <xml> with fields")
    return dict(root)


def _xml_field(doc: dict[str, Any], name: str) -> str:
    value = doc.get(name)
    if not isinstance(value, str) or not value:
        raise BadPayload(f"<{name}> missing")
    return value


def _parse_json(raw: bytes) -> dict[str, Any]:
    try:
        doc = json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise BadPayload(f"malformed JSON: {exc}") from None
    if not isinstance(doc, dict):
        raise BadPayload("JSON is not an object")
    return doc


def _json_field(doc: dict[str, Any], name: str) -> str:
    value = doc.get(name)
    if not isinstance(value, str) or not value:
        raise BadPayload(f"'{name}' missing")
    return value


def _cdata_safe(value: str) -> str:
    if "]]>" in value:
        raise ValueError("nonce must not contain ']]>'")
    return value
