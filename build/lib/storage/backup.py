"""`python bot.py backup FILE`: a consistent online copy of a SQLite database.

The sqlite3 backup API copies the database as of one read transaction; in WAL mode that
does not stop the running server from writing meanwhile. PostgreSQL is refused with a
pointer to pg_dump, the tool made for it.
"""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

from storage.db import engine, sqlite_path


class BackupError(Exception):
    """The copy could not be made; the message says why, in words for the operator."""


def backup(db_url: str, dest: str) -> int:
    """Copy the database of `db_url` to the new file `dest`; returns its size in bytes."""
    if engine(db_url) == "postgres":
        raise BackupError("PostgreSQL 数据库请用 pg_dump 备份，例如：pg_dump --format=custom "
                          "--file=lvyue.dump 'postgres://USER@HOST/DB'（恢复用 pg_restore）")
    source = Path(sqlite_path(db_url))
    target = Path(dest)
    if not source.is_file():
        raise BackupError(f"数据库文件不存在：{source}")
    if target.exists():
        raise BackupError(f"目标文件已存在，不覆盖：{target}")
    if target.resolve() == source.resolve():
        raise BackupError("目标文件不能是数据库本身")
    partial = target.with_name(target.name + ".partial")
    src = sqlite3.connect(f"{source.resolve().as_uri()}?mode=ro", uri=True)
    dst = sqlite3.connect(partial)
    try:
        src.execute("PRAGMA busy_timeout = 5000")
        src.backup(dst)  # all pages in one step: one consistent snapshot
        dst.execute("PRAGMA journal_mode = DELETE")  # a single self-contained file
    except sqlite3.Error as exc:
        dst.close()
        partial.unlink(missing_ok=True)
        raise BackupError(f"备份失败：{exc}") from exc
    finally:
        src.close()
    dst.close()
    os.replace(partial, target)
    return target.stat().st_size
