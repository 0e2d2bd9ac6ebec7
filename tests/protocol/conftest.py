"""Fixtures for the protocol tests: the real protocol file, and broken copies of it.

A broken file is the real one with one textual change, so every test names
the exact line it broke and can check that the error points there.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
REAL_PROTOCOL = REPO / "protocols" / "iliad-7-us-o.yaml"


@dataclass(frozen=True)
class BrokenFile:
    path: Path
    line: int  # 1-based line where the replacement text starts
    text: str

    def line_of(self, fragment: str) -> int:
        """1-based line of the one occurrence of `fragment` in the broken file."""
        assert self.text.count(fragment) == 1, f"{fragment!r} must occur exactly once"
        return self.text.count("\n", 0, self.text.index(fragment)) + 1


Breaker = Callable[[str, str], BrokenFile]


@pytest.fixture
def real_text() -> str:
    return REAL_PROTOCOL.read_text(encoding="utf-8")


@pytest.fixture
def broken(tmp_path: Path, real_text: str) -> Breaker:
    """`broken(old, new)`: a copy of the real file with the one occurrence of `old` replaced."""

    def make(old: str, new: str) -> BrokenFile:
        assert real_text.count(old) == 1, f"{old!r} must occur exactly once in the real file"
        start = real_text.index(old)
        path = tmp_path / "broken.yaml"
        text = real_text.replace(old, new)
        path.write_text(text, encoding="utf-8")
        return BrokenFile(path, real_text.count("\n", 0, start) + 1, text)

    return make
