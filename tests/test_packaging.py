"""Every directory of the installed packages is declared in pyproject.toml, so a
non-editable install carries every file the code reads (templates, pages, geodata, SQL)
and `pip install` does not warn "Package would be ignored" on a first `scripts/run`."""

import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TOP = ("bot", "handlers", "messages", "integrations", "storage")


def test_every_directory_with_files_is_a_declared_package_with_its_data() -> None:
    tool = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["tool"]
    packages = set(tool["setuptools"]["packages"])
    data = tool["setuptools"]["package-data"]
    for top in TOP:
        for d in [ROOT / top, *(p for p in (ROOT / top).rglob("*") if p.is_dir())]:
            if d.name == "__pycache__" or not any(f.is_file() for f in d.iterdir()):
                continue
            name = ".".join(d.relative_to(ROOT).parts)
            assert name in packages, f"{name} is not in [tool.setuptools] packages"
            others = [f for f in d.iterdir() if f.is_file() and f.suffix not in (".py", ".pyc")]
            if others:
                assert name in data, f"{name} has data files ({others[0].name}), no package-data"
