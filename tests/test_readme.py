"""The README stays a manual that matches the code: its configuration table lists every
RAGConfig field with its default and nothing else, it stays short, and every repo file it
names exists."""

from __future__ import annotations

import re
from dataclasses import MISSING, fields
from pathlib import Path

import pytest

from rag.config import REPO_ROOT, RAGConfig

README = REPO_ROOT / "README.md"
MAX_README_BYTES = 25_000
# First path parts that mean "a file of this repository" when the README names them.
REPO_DIRS = ("docs", "eval", "rag", "tests", "scripts", "seeds", ".ci")
TOP_LEVEL_FILE = re.compile(r"^[\w.-]+\.(py|sh|md|toml|txt|json|jsonl)$")
ROW = re.compile(r"^\|\s*`RAG_([A-Z0-9_]+)`\s*\|(.*?)\|(.*)\|\s*$")


def readme_text() -> str:
    return README.read_text(encoding="utf-8")


def configuration_rows(text: str) -> dict[str, str]:
    """RAG_<NAME> -> its default cell, from the table of the "## Configuration" section."""
    match = re.search(r"^## Configuration\n(.*?)(?=^## )", text, flags=re.S | re.M)
    assert match, 'the README has no "## Configuration" section'
    rows: dict[str, str] = {}
    for line in match.group(1).splitlines():
        row = ROW.match(line)
        if row:
            name, default = row.group(1), row.group(2).strip()
            assert name not in rows, f"RAG_{name} has two rows in the configuration table"
            rows[name] = default
    return rows


def default_shown(value) -> str:
    """How the table writes a field's default: in backticks, as an environment value would
    be written; "unset" for None; paths relative to the repo (``data/``) or to ``~``."""
    if value is None:
        return "unset"
    if isinstance(value, bool):
        return f"`{str(value).lower()}`"
    if isinstance(value, tuple):  # a comma-separated list in the environment
        return f"`{','.join(value)}`" if value else "unset"
    if isinstance(value, Path):
        if value.is_relative_to(REPO_ROOT):
            return f"`{value.relative_to(REPO_ROOT).as_posix()}/`"
        if value.is_relative_to(Path.home()):
            return f"`~/{value.relative_to(Path.home()).as_posix()}`"
        return f"`{value}`"
    return f"`{value}`"


def field_defaults() -> dict[str, object]:
    defaults = {}
    for f in fields(RAGConfig):
        defaults[f.name] = f.default if f.default is not MISSING else f.default_factory()  # type: ignore[misc]
    return defaults


def check_table(text: str) -> list[str]:
    """What is wrong between the README's configuration table and RAGConfig (empty: nothing)."""
    rows = configuration_rows(text)
    problems = []
    defaults = field_defaults()
    for name, value in defaults.items():
        cell = rows.get(name.upper())
        if cell is None:
            problems.append(f"RAG_{name.upper()} has no row in the README's configuration table")
        elif not cell.startswith(default_shown(value)):
            problems.append(f"RAG_{name.upper()}: the README says {cell!r}, RAGConfig's default is "
                            f"{default_shown(value)}")
    known = {name.upper() for name in defaults}
    problems += [f"RAG_{name} is in the README's table but RAGConfig has no field {name.lower()}"
                 for name in rows if name not in known]
    return problems


def repo_paths(text: str) -> set[str]:
    """Repo files the README names: markdown link targets, and inline code that is a path
    under one of the repo's folders or a top-level file name (fenced code blocks are
    commands, not references, and are left out)."""
    prose = re.sub(r"^```.*?^```", "", text, flags=re.S | re.M)
    found = set()
    for target in re.findall(r"\]\(([^)\s]+)\)", prose):
        if not re.match(r"^(#|[a-z]+:)", target):
            found.add(target.split("#")[0])
    for code in re.findall(r"`([^`\s]+)`", prose):
        code = code.rstrip(".,:;").removeprefix("./")
        if re.search(r"[<>*…]", code):
            continue
        if code.split("/")[0] in REPO_DIRS or TOP_LEVEL_FILE.match(code):
            found.add(code)
    return found


@pytest.fixture
def home_cache(monkeypatch):
    # The cache dir's default follows XDG_CACHE_HOME; the table documents the plain default.
    monkeypatch.delenv("XDG_CACHE_HOME", raising=False)


def test_configuration_table_matches_ragconfig(home_cache):
    assert check_table(readme_text()) == []


def test_the_check_catches_a_missing_row_a_wrong_default_and_an_unknown_field(home_cache):
    text = readme_text()
    without_top_k = "\n".join(line for line in text.splitlines() if not line.startswith("| `RAG_TOP_K`"))
    assert any("RAG_TOP_K has no row" in p for p in check_table(without_top_k))
    wrong_default = re.sub(r"^\| `RAG_TOP_K` \| `2` \|", "| `RAG_TOP_K` | `5` |", text, flags=re.M)
    assert any("RAG_TOP_K: the README says" in p for p in check_table(wrong_default))
    extra = text.replace("| `RAG_TOP_K` |", "| `RAG_NO_SUCH_SETTING` | `1` | nothing |\n| `RAG_TOP_K` |", 1)
    assert any("RAG_NO_SUCH_SETTING is in the README's table" in p for p in check_table(extra))


def test_readme_is_short():
    size = len(README.read_bytes())
    assert size < MAX_README_BYTES, (f"README.md is {size} bytes; keep it under {MAX_README_BYTES} "
                                     "(measurements and design notes go to docs/decisions.md)")


def test_every_repo_file_the_readme_names_exists():
    paths = repo_paths(readme_text())
    assert "docs/decisions.md" in paths and "rag/config.py" in paths  # the scan finds references at all
    missing = sorted(p for p in paths if not (REPO_ROOT / p).exists())
    assert not missing, f"the README names files that are not in the repository: {missing}"


def test_nothing_names_a_developers_guide_users_do_not_have():
    guide = "DEVELOPERS" + ".md"  # spelled in two parts so a grep of the repo for it stays empty
    tracked = [REPO_ROOT / "README.md", REPO_ROOT / "pyproject.toml", *sorted((REPO_ROOT / "docs").glob("*.md"))]
    mentions = [p.name for p in tracked if guide in p.read_text(encoding="utf-8")]
    assert not mentions, f"{guide} is not in the repository, but these files cite it: {mentions}"
