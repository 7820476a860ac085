"""sercore is a library: only sercore/cli/ prints or exits, and `python -m sercore` still routes to every command."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import sercore

SERCORE = Path(sercore.__file__).parent
CALLS = {"print", "exit", "quit", "SystemExit"}  # by name
METHODS = {"exit", "_exit"}  # sys.exit, os._exit


def _prints_and_exits(path: Path) -> list[str]:
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if not isinstance(node, ast.Call):
            continue
        f = node.func
        if isinstance(f, ast.Name) and f.id in CALLS or isinstance(f, ast.Attribute) and f.attr in METHODS:
            found.append(f"{path.relative_to(SERCORE.parent)}:{node.lineno}: {ast.unparse(f)}(")
    return found


def test_no_print_or_exit_outside_the_cli_modules() -> None:
    library = [p for p in sorted(SERCORE.rglob("*.py")) if "cli" not in p.relative_to(SERCORE).parts]
    assert len(library) > 20
    assert [hit for p in library for hit in _prints_and_exits(p)] == []


def test_the_guard_sees_the_cli_modules_print() -> None:
    assert _prints_and_exits(SERCORE / "cli" / "main.py")  # the check above would catch a print if there was one


def test_python_m_sercore_lists_every_command() -> None:
    out = subprocess.run([sys.executable, "-m", "sercore", "--help"], capture_output=True, text=True, check=True,
                         cwd=SERCORE.parent).stdout
    assert out.startswith("usage: python -m sercore")
    assert all(c in out for c in ("describe", "models", "train", "attack"))
