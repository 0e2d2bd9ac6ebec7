"""Randomization list generation, dosing and the schedule are pure: no Django, no database driver."""

from __future__ import annotations

import subprocess
import sys

import pytest

FORBIDDEN = ["django", "ninja", "psycopg", "sqlite3"]


@pytest.mark.parametrize("package", ["iliad7.randomization", "iliad7.dosing", "iliad7.schedule"])
def test_pure_package_imports_no_web_or_database_code(package: str) -> None:
    code = f"import sys\nimport {package}\nprint(sorted(m for m in sys.modules if m.split('.')[0] in {FORBIDDEN!r}))"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"
