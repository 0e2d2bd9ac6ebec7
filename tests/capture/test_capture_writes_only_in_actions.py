"""Queries, their steps and the SDV and lock events are written only by the store's actions (style.md 1)."""

from __future__ import annotations

import ast
from pathlib import Path

SRC = Path(__file__).resolve().parents[2] / "src" / "iliad7"
CAPTURE_MODELS = {"DataQuery", "QueryEvent", "ReviewEvent", "ItemValue"}
WRITE_METHODS = {"create", "bulk_create", "update", "delete", "get_or_create", "update_or_create", "save"}


def _writes(path: Path) -> list[str]:
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)):
            continue
        if node.func.attr not in WRITE_METHODS:
            continue
        root = node.func.value
        while isinstance(root, ast.Call | ast.Attribute):
            root = root.func if isinstance(root, ast.Call) else root.value
        if isinstance(root, ast.Name) and root.id in CAPTURE_MODELS:
            found.append(f"{path.relative_to(SRC)}:{node.lineno} {root.id}.{node.func.attr}")
    return found


def test_capture_tables_are_written_only_by_store_actions() -> None:
    offenders = [
        hit
        for path in SRC.rglob("*.py")
        if not path.relative_to(SRC).as_posix().startswith(("store/actions/", "store/migrations/"))
        for hit in _writes(path)
    ]
    assert offenders == []


def test_the_detector_sees_the_query_writes() -> None:
    hits = _writes(SRC / "store" / "actions" / "capture.py")
    assert any("DataQuery.create" in hit for hit in hits)
    assert any("QueryEvent.create" in hit for hit in hits)
    assert any("ReviewEvent.create" in hit for hit in hits)
