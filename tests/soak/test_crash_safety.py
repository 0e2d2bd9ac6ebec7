"""Crash safety, small: crash_soak.py with a few SIGKILLs per backend (`make soak` runs many more).

The script serves the app under gunicorn against its own fresh database,
drives concurrent item saves and randomizations, kills the whole gunicorn
process group at random moments and restarts it, then checks the database:
every acknowledged write present, no partial write, slots unique and
gap-free per stratum, `iliad7 audit verify` ok. Both backends run here
(PostgreSQL on the test session's embedded server when there is one, else
on one the script starts). ILIAD7_CRASH_KILLS sets the number of kills.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).with_name("crash_soak.py")
KILLS = int(os.environ.get("ILIAD7_CRASH_KILLS", "5"))


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_acknowledged_writes_survive_sigkill_of_the_served_app(backend: str, tmp_path: Path) -> None:
    out = tmp_path / "result.json"
    env = {k: v for k, v in os.environ.items() if k != "DJANGO_SETTINGS_MODULE"}
    done = subprocess.run(
        [sys.executable, str(SCRIPT), "--backend", backend, "--kills", str(KILLS), "--json", str(out)],
        env=env,
        capture_output=True,
        text=True,
        timeout=180 + 15 * KILLS,
        check=False,
    )
    assert out.exists(), done.stderr[-3000:]
    result = json.loads(out.read_text())
    assert result["failures"] == [], result
    assert done.returncode == 0, done.stderr[-3000:]
    assert result["kills_done"] == KILLS
    assert result["audit_verify_ok"] is True
    # The run did real work across the kills: writes acknowledged and some answers lost to a kill.
    assert result["acknowledged_item_writes"] >= 20 and result["acknowledged_randomizations"] >= 5, result
    assert result["answers_lost_to_kills"] >= 1, result
