"""The clinical rules are pure: importing them pulls in no Django and no database driver."""

from __future__ import annotations

import subprocess
import sys

PURE = [
    "iliad7.scores",
    "iliad7.eligibility",
    "iliad7.protocol",
    "iliad7.randomization",
    "iliad7.dosing",
    "iliad7.schedule",
    "iliad7.simulate",
]
FORBIDDEN = ["django", "ninja", "psycopg", "sqlite3"]


def test_pure_packages_import_no_web_or_database_code() -> None:
    code = (
        "import sys\n"
        + "".join(f"import {name}\n" for name in PURE)
        + f"print(sorted(m for m in sys.modules if m.split('.')[0] in {FORBIDDEN!r}))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"
