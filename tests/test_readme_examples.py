"""README's examples work exactly as written (issue 9's first run).

Every row of README's `examples:chat` table is sent through the console's own endpoints
(/console/api/session, /send, /click) on the demo data, and the reply must contain what the
row says. The `examples:cli` commands run as written (`python bot.py …` in a directory
holding README's `deliveries.csv`), each must exit 0 and print what follows its `# →`; then
README's curl example runs against a real `python bot.py serve` on that database with the
key `keys create` printed."""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from bot.app import build
from bot.config import Settings
from bot.demo import load_demo
from tests.server_process import OUTSIDE, free_port

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text(encoding="utf-8")
STAFF = {"张伟": "zhangwei", "赵磊": "zhaolei"}


def _between(marker: str) -> str:
    match = re.search(rf"<!-- examples:{re.escape(marker)}\b[^>]*-->\n(.*?)(?:<!-- /examples:"
                      rf"{re.escape(marker)} -->|\n```\n)", README, re.S)
    assert match, f"README has no examples:{marker} block"
    return match.group(1)


def chat_rows() -> list[tuple[str, str, str, list[str]]]:
    rows = []
    for line in _between("chat").splitlines()[2:]:
        who, chat, send, expect = (c.strip() for c in line.strip().strip("|").split(" | "))
        rows.append((STAFF[who], chat, send.strip("`"), [e.strip() for e in expect.split(" · ")]))
    return rows


def fenced(marker: str) -> str:
    block = _between(marker)
    return block.split("\n", 1)[1]  # drop the ```lang line


def cli_commands() -> list[tuple[str, str]]:
    out = []
    for line in fenced("cli").splitlines():
        command, _, expect = line.partition("# →")
        out.append((command.strip(), expect.strip()))
    return out


def test_readme_has_the_examples_it_promises() -> None:
    rows = chat_rows()
    assert len(rows) >= 10 and {r[1] for r in rows} == {"1:1", "group"}
    commands = [c for c, _ in cli_commands()]
    assert any(c.startswith("python bot.py import deliveries") for c in commands)
    assert all(expect for _, expect in cli_commands())


# ---- chat, through the console ------------------------------------------------------------


def _texts(reply: dict[str, Any]) -> str:
    """Everything a person reads in one reply (a text, or a card's words)."""
    if reply["type"] == "text":
        return str(reply["text"])
    return json.dumps(reply["card"], ensure_ascii=False)


@pytest.fixture
async def console(db: str, settings: Settings, aiohttp_client: Any) -> Any:
    await load_demo(settings)
    return await aiohttp_client(build(settings, manage_db=False))


async def test_every_readme_chat_example_gets_the_reply_readme_promises(console: Any) -> None:
    order, card, speaker = "", None, ""
    for userid, chat, send, expects in chat_rows():
        if userid != speaker:
            resp = await console.post("/console/api/session", json={"user_id": userid})
            assert resp.status == 200, await resp.text()
            speaker = userid
        chat_type = "group" if chat == "group" else "single"
        if send.startswith("[") and send.endswith("]"):  # press that button on the last card
            assert card is not None, send
            key = next(b["key"] for b in card["button_list"] if b["text"] == send[1:-1])
            resp = await console.post("/console/api/click", json={
                "key": key, "task_id": card["task_id"], "chat_type": chat_type})
        else:
            resp = await console.post("/console/api/send", json={
                "text": send.replace("{order}", order), "chat_type": chat_type})
        assert resp.status == 200, (send, await resp.text())
        replies = (await resp.json())["replies"]
        said = "\n".join(_texts(r) for r in replies)
        for expect in expects:
            assert expect.replace("{order}", order) in said, (send, expect, said)
        for r in replies:
            if "card" in r and r["card"].get("main_title", {}).get("title", "").startswith("订单"):
                card = r["card"]
                order = card["main_title"]["title"].split()[-1]


# ---- the command line and curl, as a new user types them ----------------------------------


def _env(db_url: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(OUTSIDE)}
    env["LVYUE_DB"] = db_url
    return env


def _wait_healthy(port: int, proc: subprocess.Popen[bytes]) -> None:
    for _ in range(600):
        assert proc.poll() is None, "the server exited"
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz") as resp:
                if resp.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.1)
    raise AssertionError("the server did not answer /healthz")


def test_readme_command_line_and_curl_examples_work_as_written(tmp_path: Path) -> None:
    (tmp_path / "deliveries.csv").write_text(fenced("deliveries.csv"), encoding="utf-8")
    env = _env(f"sqlite://{tmp_path / 'lvyue.db'}")
    key = ""
    for command, expect in cli_commands():
        argv = shlex.split(command)
        assert argv[:2] == ["python", "bot.py"], command
        done = subprocess.run([sys.executable, str(ROOT / "bot.py"), *argv[2:]], cwd=tmp_path,
                              env=env, capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, (command, done.stdout, done.stderr)
        assert expect.strip('"') in done.stdout or expect in done.stdout, (
            command, expect, done.stdout)
        if argv[2:4] == ["keys", "create"]:
            key = done.stdout.split()[-1]
    assert key.startswith("lvy_")

    port = free_port()
    server = subprocess.Popen([sys.executable, str(ROOT / "bot.py"), "serve", "--port", str(port)],
                              cwd=tmp_path, env=env, stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL)
    try:
        _wait_healthy(port, server)
        script = fenced("curl").split("\n# →")[0].replace("127.0.0.1:8080", f"127.0.0.1:{port}")
        done = subprocess.run(["bash", "-c", script], env={**env, "KEY": key},
                              capture_output=True, text=True, timeout=60)
    finally:
        server.terminate()
        server.wait(timeout=30)
    assert done.returncode == 0, done.stderr
    answer = json.loads(done.stdout)
    assert set(answer) >= {"shipments", "promised_at", "gates"}, answer
    shipment = answer["shipments"][0]
    assert set(shipment) >= {"warehouse", "carrier", "promised_at", "lines"}
    assert shipment["lines"] == [{"sku": "OIL00001", "qty": 2}]
    assert all(g["ok"] for g in answer["gates"]), answer["gates"]
