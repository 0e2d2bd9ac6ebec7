"""The capture package is pure: importing it loads no web framework and no database driver."""

from __future__ import annotations

import subprocess
import sys

FORBIDDEN = ["django", "ninja", "psycopg", "sqlite3"]


def test_capture_imports_no_web_or_database_code() -> None:
    code = (
        f"import sys\nimport iliad7.capture\nprint(sorted(m for m in sys.modules if m.split('.')[0] in {FORBIDDEN!r}))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"
