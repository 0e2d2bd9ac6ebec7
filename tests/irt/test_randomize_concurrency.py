"""1,000 randomization attempts from concurrent processes: unique, gap-free slots per stratum.

Four worker processes, each with its own database connection, randomize a
shuffled stream of 1,000 attempts over 400 eligible, consented participants
(200 per site, so most are attempted more than once, and 180 slots per site or
a little more, so each stratum runs out part-way). On SQLite the database is a
file (WAL, IMMEDIATE transactions); under ILIAD7_TEST_DB=postgresql it is a
database of its own on the session's server (row locks).
"""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
import time
import uuid
from collections import Counter, defaultdict
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

SCRIPT = Path(__file__).with_name("concurrency_script.py")
PER_SITE, SLOTS, ATTEMPTS, WORKERS = 200, 180, 1000, 4
PG_BASE_URL_ENV = "ILIAD7_TEST_PG_BASE_URL"

pytestmark = pytest.mark.django_db


@pytest.fixture
def own_database(tmp_path: Path) -> Iterator[dict[str, str]]:
    env = dict(os.environ)
    env.pop("DJANGO_SETTINGS_MODULE", None)
    env.pop("DATABASE_URL", None)
    env["ILIAD7_HOME"] = str(tmp_path / "home")
    base = os.environ.get(PG_BASE_URL_ENV)
    name = None
    if base:
        import psycopg

        name = f"iliad7_irt_{uuid.uuid4().hex[:12]}"
        with psycopg.connect(f"{base}/postgres", autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        env["DATABASE_URL"] = f"{base}/{name}"
    yield env
    if base and name:
        import psycopg

        with psycopg.connect(f"{base}/postgres", autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _script(env: dict[str, str], *args: str) -> Any:
    done = subprocess.run(
        [sys.executable, str(SCRIPT), *args], env=env, capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout)


def test_concurrent_randomizations_take_unique_gap_free_slots(own_database: dict[str, str]) -> None:
    numbers: list[str] = _script(own_database, "setup", str(PER_SITE), str(SLOTS))
    rng = random.Random(20261125)
    attempts = numbers + [rng.choice(numbers) for _ in range(ATTEMPTS - len(numbers))]
    rng.shuffle(attempts)
    start_at = time.time() + 4  # every worker has loaded Django by then
    workers = [
        subprocess.Popen(
            [sys.executable, str(SCRIPT), "work", str(start_at), *attempts[i::WORKERS]],
            env=own_database,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for i in range(WORKERS)
    ]
    results: list[dict[str, Any]] = []
    for worker in workers:
        out, err = worker.communicate(timeout=180)
        assert worker.returncode == 0, err[-3000:]
        results += json.loads(out)
    assert len(results) == ATTEMPTS
    assert [r for r in results if "error" in r] == []

    state = _script(own_database, "state")
    assert state["chain_ok"]
    successes = [r for r in results if r["ok"]]
    # No slot is handed out twice, and no participant is randomized twice.
    assert len({r["number"] for r in successes}) == len(successes)
    assert len({r["sn"] for r in successes}) == len(successes)
    by_stratum: dict[str, list[int]] = defaultdict(list)
    capacity: Counter[str] = Counter()
    for slot in state["slots"]:
        capacity[slot["stratum"]] += 1
        if slot["participant"] is not None:
            by_stratum[slot["stratum"]].append(slot["sequence"])
    for stratum in ("MSKCC", "MDACC"):
        taken = sorted(by_stratum[stratum])
        # Gap-free: the first n slots, each once; and a stratum runs out only when every slot is taken.
        assert taken == list(range(1, len(taken) + 1)), stratum
        assert len(taken) == min(capacity[stratum], PER_SITE), stratum
    # What the workers were told is what the database holds.
    assert {r["sn"]: r["usubjid"] for r in successes} == {
        sn: usubjid for sn, (_, _, usubjid) in state["participants"].items() if usubjid
    }
    reasons = Counter(
        "already" if "already randomized" in r["reason"] else "exhausted" if "no free slot" in r["reason"] else "other"
        for r in results
        if not r["ok"]
    )
    assert reasons["other"] == 0
    assert reasons["exhausted"] > 0 and reasons["already"] > 0
