"""The layering, read from the imports themselves (issue 12): the domain (bot/domain/) imports
nothing of ours outside it, and storage/ and integrations/ import nothing from bot/ but the
domain. A new upward import fails here, naming the file and line."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
OURS = ("bot", "handlers", "messages", "integrations", "storage")


def imports(path: Path) -> list[tuple[int, str]]:
    """Every module a file imports (also inside functions and TYPE_CHECKING blocks)."""
    out = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            out += [(node.lineno, a.name) for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            out.append((node.lineno, node.module))
    return out


def ours(module: str) -> bool:
    return module.split(".")[0] in OURS


def in_domain(module: str) -> bool:
    return module == "bot.domain" or module.startswith("bot.domain.")


def offending(folder: str, allowed: tuple[str, ...]) -> list[str]:
    bad = []
    for path in sorted((ROOT / folder).rglob("*.py")):
        for line, module in imports(path):
            if ours(module) and not in_domain(module) and module.split(".")[0] not in allowed:
                bad.append(f"{path.relative_to(ROOT)}:{line} imports {module}")
    return bad


def test_the_domain_imports_nothing_of_ours_outside_it():
    assert offending("bot/domain", allowed=()) == []


@pytest.mark.parametrize(("folder", "allowed"), [
    ("storage", ("storage",)),
    ("integrations", ("integrations",)),
])
def test_lower_layers_do_not_import_upwards(folder, allowed):
    assert offending(folder, allowed) == []


def test_the_rule_sees_an_upward_import(tmp_path, monkeypatch):
    # the checker itself: a domain module importing storage is reported with its line
    fake = tmp_path / "bot" / "domain"
    fake.mkdir(parents=True)
    (fake / "x.py").write_text("import math\n\nfrom storage.models import Order\n")
    monkeypatch.setattr(sys.modules[__name__], "ROOT", tmp_path)
    assert offending("bot/domain", allowed=()) == ["bot/domain/x.py:3 imports storage.models"]
