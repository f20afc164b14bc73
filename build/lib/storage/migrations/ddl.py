"""Print the CREATE statements tortoise-orm makes for some tables, per engine: the text to
put in a migration that adds a table (storage/migrations/README.md).

    python -m storage.migrations.ddl callback_inbox [more tables…]

Nothing is connected: the SQL is generated from the models of this checkout.
"""

from __future__ import annotations

import argparse
import asyncio
import re

from tortoise import Tortoise, connections
from tortoise.utils import get_schema_sql

from storage import db

URLS = {"sqlite": "sqlite://:memory:", "postgres": "postgres://ddl@127.0.0.1:9/ddl"}


async def schema_sql(engine: str) -> str:
    await Tortoise.init(config=db.tortoise_config(URLS[engine]))
    try:
        return get_schema_sql(connections.get("default"), safe=True)
    finally:
        await Tortoise.close_connections()


def for_tables(script: str, tables: set[str]) -> list[str]:
    """The statements of `script` that create (or index, or comment on) one of `tables`."""
    out = []
    for stmt in re.split(r";\s*\n", script):
        m = re.search(r'(?:TABLE(?: IF NOT EXISTS)?|ON(?: TABLE| COLUMN)?) "(\w+)"', stmt)
        if m and m.group(1) in tables:
            out.append(stmt.strip().rstrip(";") + ";")
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("tables", nargs="+")
    args = p.parse_args()
    for engine in URLS:
        print(f"-- {engine}")  # noqa: T201
        print("\n".join(for_tables(asyncio.run(schema_sql(engine)), set(args.tables))))  # noqa: T201


if __name__ == "__main__":
    main()
