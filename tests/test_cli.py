"""The command line as a person uses it: real subprocesses on a temporary SQLite file."""

import json
import re
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DATA = Path(__file__).parent / "data"


def run(*args, cwd=None, timeout=120):
    return subprocess.run([sys.executable, str(ROOT / "bot.py"), *args], cwd=cwd or ROOT,
                          capture_output=True, text=True, timeout=timeout)


@pytest.fixture
def dbfile(tmp_path):
    return f"sqlite://{tmp_path / 'cli.db'}"


def test_import_reports_bad_rows_and_writes_nothing_then_partial(tmp_path, dbfile):
    ok = run("import", "warehouses", str(DATA / "warehouses.csv"), "--db", dbfile)
    assert ok.returncode == 0, ok.stderr
    bad = tmp_path / "stock.csv"
    bad.write_text("仓编码,商品编码,在库数量\nHZ01,NOPE1,5\nHZ01,NOPE2,-1\n", encoding="utf-8")
    out = run("import", "stock", str(bad), "--db", dbfile)
    assert out.returncode == 1
    assert "第2行" in out.stdout and "第3行" in out.stdout and "未写入" in out.stdout
    missing = run("import", "stock", str(tmp_path / "none.csv"), "--db", dbfile)
    assert missing.returncode == 2 and "导入失败" in missing.stderr


def test_demo_then_export_invoices(tmp_path, dbfile):
    out = run("demo", "--db", dbfile)
    assert out.returncode == 0, out.stderr
    assert "products 18000" in out.stdout and "customers 486" in out.stdout
    # with 90 days of demo history, said so, and how long it took (bench figure)
    assert re.search(r"近90天的演示历史（渠道 demo.*订单 \d{4}.*用时 [\d.]+ 秒", out.stdout)
    xlsx = tmp_path / "inv.xlsx"
    out = run("export", "invoices", "--type", "专票", "--since", "2026-01-01", "-o", str(xlsx),
              "--db", dbfile)
    assert out.returncode == 0, out.stderr
    # the demo history's 专票 orders since January
    assert xlsx.exists() and re.search(r"已导出[1-9]\d*张订单", out.stdout), out.stdout


def test_config_error_names_the_key(tmp_path, dbfile):
    cfg = tmp_path / "c.toml"
    cfg.write_text('[[allocation.rules]]\nname="x"\nstrategy="closest"\n', encoding="utf-8")
    out = run("demo", "--db", dbfile, "--config", str(cfg))
    assert out.returncode == 2 and "allocation.rules[0].strategy" in out.stderr


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _get(url, headers=None):
    req = urllib.request.Request(url, headers=headers or {})
    with urllib.request.urlopen(req, timeout=5) as r:
        return r.status, json.loads(r.read())


def _call(url, method="GET", body=None, key=None):
    """(status, parsed body) of one request; HTTP errors are answers too."""
    headers = {"Content-Type": "application/json"}
    if key:
        headers["Authorization"] = f"Bearer {key}"
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(url, method=method, data=data, headers=headers)
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status, r.headers.get_content_type(), r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.headers.get_content_type(), e.read()


def test_keys_create_list_revoke(dbfile):
    made = run("keys", "create", "--name", "erp", "--role", "integration", "--db", dbfile)
    assert made.returncode == 0, made.stderr
    key = made.stdout.split()[-1]  # the key is the last word printed
    assert key.startswith("lvy_") and len(key) > 40
    listed = run("keys", "list", "--db", dbfile)
    assert "erp" in listed.stdout and "integration" in listed.stdout
    assert key not in listed.stdout and key[:12] in listed.stdout  # shown by its prefix only
    bad = run("keys", "create", "--name", "x", "--role", "boss", "--db", dbfile)
    assert bad.returncode == 2
    gone = run("keys", "revoke", "erp", "--db", dbfile)
    assert gone.returncode == 0 and "已吊销" in gone.stdout
    assert "erp" not in run("keys", "list", "--db", dbfile).stdout
    assert run("keys", "revoke", "erp", "--db", dbfile).returncode == 1


def _wait_up(proc, url):
    deadline = time.monotonic() + 90
    while True:
        try:
            return _get(url)
        except OSError:
            if time.monotonic() > deadline or proc.poll() is not None:
                pytest.fail("server did not come up:\n" + (proc.stdout.read() if
                                                           proc.poll() is not None else ""))
            time.sleep(0.2)


def test_serve_loads_demo_data_takes_keyed_orders_and_listens_twice(tmp_path, dbfile):
    made = run("keys", "create", "--name", "ops", "--role", "admin", "--db", dbfile)
    key = made.stdout.split()[-1]
    port, public = _free_port(), _free_port()
    proc = subprocess.Popen([sys.executable, str(ROOT / "bot.py"), "--db", dbfile, "--port",
                             str(port), "--public-port", str(public)], cwd=tmp_path,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    admin, outside = f"http://127.0.0.1:{port}", f"http://127.0.0.1:{public}"
    try:
        status, body = _wait_up(proc, f"{admin}/healthz")
        assert status == 200 and body["db"] == "sqlite"
        assert _get(f"{outside}/healthz")[0] == 200
        order = {"customer": "C0002", "lines": [{"sku": "OIL00001", "qty": 1}]}
        status, ctype, _ = _call(f"{admin}/api/orders", "POST", order)
        assert (status, ctype) == (401, "application/problem+json")
        status, _, raw = _call(f"{admin}/api/orders", "POST", order, key)
        placed = json.loads(raw)
        assert status == 201 and placed["status"] == "draft", placed
        assert placed["promised_at"].endswith("+08:00")
        no = placed["no"]
        assert _call(f"{admin}/api/orders/{no}/confirm", "POST", {}, key)[0] == 200
        status, _, raw = _call(f"{admin}/api/orders/{no}/ship", "POST", {}, key)
        shipped = json.loads(raw)
        assert status == 200, shipped
        # Links name the port actually served: the public listener's, where /t/ is public.
        link = shipped["tracking_url"]
        assert link.startswith(f"{outside}/t/"), link
        with urllib.request.urlopen(link, timeout=10) as r:
            assert r.status == 200 and "text/html" in r.headers["Content-Type"]
        # The public listener serves none of the rest, key or not.
        for path in (f"/api/orders/{no}", "/metrics", "/console", "/dashboard"):
            status, _, _ = _call(outside + path, key=key)
            assert status in (403, 404), (path, status)
    finally:
        proc.terminate()
        proc.wait(timeout=20)
    log = proc.stdout.read() if proc.stdout else ""
    # "serving on" is said once the demo data is in, every line in one timezone (+08:00)
    assert log.index("demo data loaded") < log.index("serving on http://127.0.0.1"), log
    stamps = re.findall(r"^(\S+) (?:INFO|WARNING|ERROR|DEBUG) ", log, re.M)
    assert stamps and all(re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}\+08:00", t)
                          for t in stamps), stamps
    assert "_led.<locals>" not in log


def test_parse_prints_the_draft_and_writes_nothing(tmp_path):
    db = tmp_path / "none.db"
    out = run("parse", "C0002 BRK00001 x20 送上海市嘉定区莘松路135号 专票", "--db", f"sqlite://{db}")
    assert out.returncode == 0, out.stderr
    draft = json.loads(out.stdout)
    assert set(draft) == {"customer", "customer_candidates", "lines", "address", "invoice",
                          "questions"}
    assert draft["customer"]["code"] == "C0002"
    assert draft["lines"][0]["sku"] == "BRK00001" and draft["lines"][0]["qty"] == 20
    assert draft["address"]["adcode"] == "310114" and draft["address"]["city"] == "上海市"
    assert draft["invoice"]["type"] == "专票"
    assert not db.exists()


def _seed_outbox(url):
    """Two dead 公众号 pushes and one pending, written through storage.outbox."""
    import asyncio
    from datetime import UTC, datetime

    from storage import db as storage_db
    from storage import outbox

    async def seed():
        await storage_db.init(url)
        try:
            now = datetime.now(UTC)
            await outbox.enqueue([outbox.Notification(
                dedup_key=f"k{i}", event="shipped", channel="wechat_oa", recipient=f"o{i}",
                template="shipped.wechat_oa", order_no=f"SO{i}") for i in range(3)], now)
            for c in await outbox.claim(2, "w", 60, now, ["wechat_oa"]):
                await outbox.mark_dead(c, "用户拒收公众号消息（43101）")
        finally:
            await storage_db.close()

    asyncio.run(seed())


def test_outbox_status_list_and_retry(tmp_path, dbfile):
    _seed_outbox(dbfile)
    out = run("outbox", "status", "--db", dbfile, cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    assert out.stdout == "待发送 1  发送中 0  已发送 0  失败 2\n"
    out = run("--db", dbfile, "outbox", "list", "dead", "--limit", "5", cwd=tmp_path)
    lines = out.stdout.splitlines()
    assert out.returncode == 0 and len(lines) == 2
    assert all("失败" in line and "原因：用户拒收公众号消息（43101）" in line for line in lines)
    out = run("outbox", "retry", "1", "99", "--db", dbfile, cwd=tmp_path)
    assert out.returncode == 1  # 99 does not exist
    assert out.stdout == "#1 已重新排队\n#99 没有这条通知\n"
    out = run("outbox", "retry", "1", "--db", dbfile, cwd=tmp_path)
    assert out.returncode == 1 and "不是失败状态" in out.stdout
    out = run("outbox", "retry", "--all-dead", "--db", dbfile, cwd=tmp_path)
    assert out.returncode == 0 and out.stdout == "重新发送 1 条失败通知\n"
    out = run("outbox", "status", "--db", dbfile, cwd=tmp_path)
    assert out.stdout == "待发送 3  发送中 0  已发送 0  失败 0\n"
    assert not (tmp_path / "lvyue.db").exists()  # always the --db database


def test_outbox_usage_errors(tmp_path, dbfile):
    out = run("outbox", "retry", "--db", dbfile, cwd=tmp_path)
    assert out.returncode == 2 and "--all-dead" in out.stderr
    out = run("outbox", "list", "lost", "--db", dbfile, cwd=tmp_path)
    assert out.returncode == 2 and "invalid choice" in out.stderr
    out = run("outbox", "-h", cwd=tmp_path)
    assert out.returncode == 0 and "bot.py outbox" in out.stdout and "retry" in out.stdout
    assert "outbox" in run("-h", cwd=tmp_path).stdout


def test_db_before_the_command_is_kept(tmp_path, dbfile):
    out = run("--db", dbfile, "import", "warehouses", str(DATA / "warehouses.csv"), cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    assert (tmp_path / "cli.db").exists() and not (tmp_path / "lvyue.db").exists()


def _seed_deliveries(url, n):
    """n zto parcels HZ01 → 杭州 delivered 26 h after shipping, three days ago."""
    import asyncio
    from datetime import UTC, datetime, timedelta

    from storage import db as storage_db
    from storage.models import Customer, Order, OrderStatus, Shipment, Warehouse

    async def seed():
        await storage_db.init(url)
        try:
            wh = await Warehouse.create(code="HZ01", name="杭州仓", city="杭州", province="浙江")
            customer = await Customer.create(code="C0001", name="恒通汽修")
            order = await Order.create(no="HIST1", customer=customer, province="浙江省",
                                       city="杭州市", status=OrderStatus.delivered)
            at = datetime.now(UTC) - timedelta(days=3)
            await Shipment.bulk_create([Shipment(
                order=order, seq=i, warehouse=wh, carrier="zto", status=OrderStatus.delivered,
                shipped_at=at - timedelta(hours=26), delivered_at=at) for i in range(1, n + 1)])
        finally:
            await storage_db.close()

    asyncio.run(seed())


def test_calibrate_dry_run_prints_the_report_and_writes_nothing(tmp_path, dbfile):
    import sqlite3

    _seed_deliveries(dbfile, 25)
    out = run("calibrate", "--dry-run", "--db", dbfile, cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    assert "采用25条" in out.stdout and "zto HZ01→浙江杭州：18→26小时" in out.stdout
    assert "试算，未写入" in out.stdout
    db = sqlite3.connect(tmp_path / "cli.db")
    try:
        assert db.execute("SELECT COUNT(*) FROM transit_stats").fetchone() == (0,)
        assert db.execute("SELECT COUNT(*) FROM counters").fetchone() == (0,)
        out = run("--db", dbfile, "calibrate", cwd=tmp_path)
        assert out.returncode == 0 and "已写入" in out.stdout, out.stderr
        assert db.execute("SELECT city, hours FROM transit_stats").fetchall() == [("杭州", 26)]
    finally:
        db.close()


def test_import_deliveries_recalibrates_and_calibrate_prints_the_waves(tmp_path, dbfile):
    import sqlite3
    from datetime import UTC, datetime, timedelta

    assert run("import", "warehouses", str(DATA / "warehouses.csv"), "--db", dbfile
               ).returncode == 0
    start = (datetime.now(UTC) + timedelta(hours=8)).date() - timedelta(days=40)
    lines = ["运单号,承运商,发货仓,收货地址,下单时间,发货时间,签收时间"]
    for i in range(30):
        day = start + timedelta(days=i)
        lines.append(f"ZT{i:04d},中通快递,HZ01,浙江省杭州市西湖区文三路{i}号,{day} 09:00,"
                     f"{day} 17:00,{day + timedelta(days=1)} 10:{i % 40 + 10:02d}")
    path = tmp_path / "history.csv"
    path.write_text("\n".join(lines) + "\n", encoding="gbk")
    out = run("import", "deliveries", str(path), "--db", dbfile, cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    assert "新增 30 行" in out.stdout and "到达波次：30条签收记录" in out.stdout
    assert "已写入" in out.stdout
    db = sqlite3.connect(tmp_path / "cli.db")
    try:
        assert db.execute("SELECT COUNT(*) FROM promise_waves WHERE city = '杭州' "
                          "AND weekday = 0").fetchone() == (1,)
        assert db.execute("SELECT COUNT(*) FROM orders").fetchone() == (0,)
    finally:
        db.close()
    dry = run("calibrate", "--dry-run", "--db", dbfile, cwd=tmp_path)
    assert dry.returncode == 0, dry.stderr
    assert "zto HZ01→浙江杭州：发车后第1天" in dry.stdout and "试算，未写入" in dry.stdout
