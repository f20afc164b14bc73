"""Products import bench: `python bot.py import products FILE` end to end, 18,000 rows.

    python bench/import_products.py [--engine sqlite|postgres|both] [--rows 18000] [--keep]

Generates a products CSV with the Chinese headers (商品编码,商品名称,品类,品牌,单位,单价,适用车型)
in a temp dir, then times the import command as a subprocess, each on a fresh database:
  1. fresh database: every row is new (bulk insert);
  2. the same SKUs again with every price changed (bulk update of every row);
  3. the changed file once more (every row unchanged: read and compare only).
The time is wall clock of the whole command (interpreter start, imports, schema creation,
reading and validating the file, writing). A baseline line shows the fixed part: starting
the interpreter and importing the modules the command needs. Target: < 20 s per run.
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import random
import resource
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Sequence
from decimal import Decimal
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from intake import REPO, PgCluster, machine_lines, tree_cpu_s  # bench/intake.py

TARGET_S = 20.0
HEADER = ["商品编码", "商品名称", "品类", "品牌", "单位", "单价", "适用车型"]
CATEGORIES = {  # category: (name, unit, price range)
    "BRK": ("刹车片", "套", (80, 600)), "FLT": ("机油滤清器", "个", (15, 120)),
    "OIL": ("全合成机油 4L", "桶", (150, 600)), "TYR": ("轮胎 205/55R16", "条", (300, 1200)),
    "SPK": ("火花塞", "支", (20, 150)), "BAT": ("蓄电池 60Ah", "只", (300, 900)),
    "WIP": ("雨刮片", "对", (30, 200)), "LMP": ("大灯总成", "个", (200, 2500)),
    "BLT": ("正时皮带", "条", (60, 400)), "SUS": ("减震器", "支", (200, 1200)),
    "CLT": ("离合器片", "套", (300, 1500)), "IGN": ("点火线圈", "个", (80, 500)),
}
BRANDS = ("博世", "马勒", "曼牌", "NGK", "米其林", "普利司通", "瓦尔塔", "法雷奥", "盖茨",
          "萨克斯")
MODELS = ("大众朗逸", "丰田卡罗拉", "本田思域", "日产轩逸", "别克英朗", "吉利帝豪", "宝马3系",
          "奥迪A4L", "奔驰C级", "比亚迪秦")


def write_csv(path: Path, rows: int, seed: int, price_factor: Decimal) -> None:
    rng = random.Random(seed)
    cats = list(CATEGORIES)
    with path.open("w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(HEADER)
        for i in range(rows):
            cat = cats[i % len(cats)]
            name, unit, (lo, hi) = CATEGORIES[cat]
            brand = rng.choice(BRANDS)
            price = (Decimal(str(round(rng.uniform(lo, hi), 1))) * price_factor).quantize(
                Decimal("0.01"))
            models = "/".join(rng.sample(MODELS, rng.randint(1, 3)))
            w.writerow([f"{cat}{i + 1:06d}", f"{brand} {name} 型号{i + 1}", cat, brand, unit,
                        f"{price}", models])


def run(cmd: list[str]) -> tuple[float, float, int, str]:
    """(wall s, child CPU s, exit code, last output lines) of one command."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t = time.perf_counter()
    out = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=600)
    wall = time.perf_counter() - t
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    text = (out.stdout.strip() + "\n" + out.stderr.strip()).strip()
    tail = [ln for ln in text.splitlines() if "INFO tortoise" not in ln][-3:]
    return wall, cpu, out.returncode, " | ".join(tail)


async def _new_pg_db(pg: PgCluster) -> str:
    return await pg.create_database(f"imp_{uuid.uuid4().hex[:8]}")


def bench_engine(engine: str, files: Sequence[tuple[str, Path]], rows: int, workdir: Path,
                 keep: bool) -> bool:
    print(f"\n=== engine: {engine} ===")
    pg: PgCluster | None = None
    ok = True
    try:
        if engine == "sqlite":
            url = f"sqlite://{workdir}/products.db"
        else:
            pg = PgCluster()
            pg.start()
            url = asyncio.run(_new_pg_db(pg))
        print(f"  db {url} (fresh)")
        for label, path in files:
            cmd = [sys.executable, "bot.py", "import", "products", str(path), "--db", url]
            pg_pid = pg.postmaster_pid() if pg else None
            pg0 = tree_cpu_s(pg_pid) if pg_pid else 0.0
            wall, cpu, rc, tail = run(cmd)
            pg_cpu = f" + postgres {tree_cpu_s(pg_pid) - pg0:.2f} s" if pg_pid else ""
            verdict = "ok" if wall < TARGET_S and rc == 0 else "NOT MET" if rc == 0 else "FAILED"
            ok = ok and verdict == "ok"
            print(f"  {label:<34} {wall:6.2f} s wall ({rows / wall:5.0f} rows/s); CPU: "
                  f"command {cpu:.2f} s{pg_cpu}; exit {rc}; target < {TARGET_S:.0f} s: "
                  f"{verdict}")
            print(f"      {tail}")
    finally:
        if pg is not None:
            pg.stop(keep=keep)
    return ok


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--engine", choices=["sqlite", "postgres", "both"], default="sqlite")
    p.add_argument("--rows", type=int, default=18_000)
    p.add_argument("--seed", type=int, default=2026)
    p.add_argument("--keep", action="store_true", help="leave the temp dir (CSV files, DB)")
    args = p.parse_args(argv)
    print("== lvyue products import bench ==")
    for ln in machine_lines():
        print(ln)
    workdir = Path(tempfile.mkdtemp(prefix="lvyue-bench-import-"))
    ok = True
    try:
        first, changed = workdir / "products.csv", workdir / "products_new_prices.csv"
        t = time.perf_counter()
        write_csv(first, args.rows, args.seed, Decimal(1))
        write_csv(changed, args.rows, args.seed, Decimal("1.05"))  # same rows, prices +5 %
        print(f"files: {args.rows} rows each, {first.stat().st_size / 1e6:.1f} MB "
              f"(generated in {time.perf_counter() - t:.1f} s) in {workdir}")
        wall, _, rc, _ = run([sys.executable, "-c", "import bot.imports, storage.db, "
                                "tortoise.backends.sqlite, tortoise.backends.asyncpg"])
        print(f"baseline: interpreter start + imports of the command: {wall:.2f} s "
              f"(exit {rc})")
        files = [("1. fresh db, all rows new", first),
                 ("2. re-import, every price changed", changed),
                 ("3. same file again, no changes", changed)]
        engines = ["sqlite", "postgres"] if args.engine == "both" else [args.engine]
        for engine in engines:
            ok = bench_engine(engine, files, args.rows, workdir, args.keep) and ok
    finally:
        if args.keep:
            print(f"\nkept: {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
