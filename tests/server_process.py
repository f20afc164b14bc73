"""A real `python bot.py serve` in a child process, for tests that kill it or lock its
database from outside. The WeCom app and robot callbacks point at a fake WeCom."""

from __future__ import annotations

import asyncio
import os
import secrets
import signal
import socket
import string
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from integrations.wecom_crypto import AppCrypto
from tests.fakes.wecom_server import FakeWeCom

ROOT = Path(__file__).resolve().parents[1]
TOKEN = "lvyueToken"
AES = "".join(secrets.choice(string.ascii_letters + string.digits) for _ in range(43))
OUTSIDE = ("WECOM_", "WECHAT_", "KUAIDI100_", "SF_", "ZTO_", "JD_", "LVYUE_")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class ServerProcess:
    """Start, kill -9 and restart a server on one port (so one worker id: host:port)."""

    def __init__(self, db_url: str, fake: FakeWeCom, log_dir: Path) -> None:
        self.db_url, self.fake = db_url, fake
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.log_dir = log_dir
        self.proc: subprocess.Popen[bytes] | None = None
        self.starts = 0
        self.crypto = AppCrypto(TOKEN, AES, fake.corp_id)

    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith(OUTSIDE)
               and k.lower() not in ("http_proxy", "https_proxy", "all_proxy")}
        env.update({"WECOM_CORP_ID": self.fake.corp_id, "WECOM_AGENT_ID": str(self.fake.agent_id),
                    "WECOM_SECRET": self.fake.secret, "WECOM_TOKEN": TOKEN, "WECOM_AES_KEY": AES,
                    "WECOM_API_BASE": self.fake.url, "NO_PROXY": "127.0.0.1",
                    "PYTHONPATH": str(ROOT)})
        return env

    async def start(self) -> None:
        self.starts += 1
        log = (self.log_dir / f"server-{self.starts}.log").open("wb")
        self.proc = subprocess.Popen(  # noqa: ASYNC220 (starting it does not block)
            [sys.executable, "bot.py", "serve", "--db", self.db_url, "--host", "127.0.0.1",
             "--port", str(self.port)], cwd=ROOT, stdout=log, stderr=subprocess.STDOUT,
            env=self.env())
        log.close()
        deadline = time.monotonic() + 60
        async with httpx.AsyncClient(trust_env=False) as http:
            while time.monotonic() < deadline:
                if self.proc.poll() is not None:
                    pytest.fail(f"server exited early:\n{self.log()}")
                try:
                    if (await http.get(f"{self.base}/healthz", timeout=2)).status_code == 200:
                        return
                except httpx.HTTPError:
                    pass
                await asyncio.sleep(0.1)
        pytest.fail(f"server not healthy:\n{self.log()}")

    def kill9(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        assert self.proc.wait(timeout=10) == -signal.SIGKILL

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)

    def log(self, lines: int = 60) -> str:
        path = self.log_dir / f"server-{self.starts}.log"
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])

    def callback(self, user: str, text: str, msg_id: int) -> tuple[bytes, dict[str, str]]:
        """The encrypted envelope WeCom POSTs for a text message (fresh nonce each time)."""
        fake = self.fake
        plain = (f"<xml><ToUserName><![CDATA[{fake.corp_id}]]></ToUserName>"
                 f"<FromUserName><![CDATA[{user}]]></FromUserName><CreateTime>"
                 f"{int(time.time())}</CreateTime><MsgType><![CDATA[text]]></MsgType>"
                 f"<Content><![CDATA[{text}]]></Content><MsgId>{msg_id}</MsgId>"
                 f"<AgentID>{fake.agent_id}</AgentID></xml>")
        nonce = secrets.token_hex(6)
        enc, sig, ts = self.crypto.seal(plain, nonce, str(int(time.time())))
        body = (f"<xml><ToUserName><![CDATA[{fake.corp_id}]]></ToUserName>"
                f"<Encrypt><![CDATA[{enc}]]></Encrypt><AgentID>{fake.agent_id}</AgentID>"
                f"</xml>")
        return body.encode(), {"msg_signature": sig, "timestamp": ts, "nonce": nonce}

    async def post(self, http: httpx.AsyncClient, user: str, text: str, msg_id: int
                   ) -> int | None:
        """POST one callback; its status, or None when no answer came (server gone)."""
        body, query = self.callback(user, text, msg_id)
        try:
            r = await http.post(f"{self.base}/wecom/callback", params=query, content=body,
                                timeout=10)
        except httpx.HTTPError:
            return None
        return r.status_code
