"""Load: N concurrent simulated site users against `iliad7 serve` on loopback, bounded in time.

    python tests/soak/load.py --backend sqlite --users 50 --duration 30
    python tests/soak/load.py --backend postgresql --users 200 --duration 30 --json out.json

A fresh database gets the protocol, eligible consented participants waiting
for randomization (`iliad7 simulate cohort --stop-before randomization`),
coordinators and investigators at both sites, and an allocation list. The
app runs under gunicorn (`iliad7 serve --workers W`) on 127.0.0.1. Each
simulated user signs in through the login page (before the clock starts; then a
few unmeasured requests warm every worker up), arrives at a random moment
within the first think time, then repeats a site user's work until the time is up, pausing a think
time (uniform 0.5-1.5 x --think, default 2 s) after every request, as a
person does between two clicks:

- coordinator (4 in 5 users): open a participant (detail), open the visit
  calendar, save two vital signs of a new daily VITALS record and a laboratory
  value (the LAB form's ALC at a visit: a new version with a reason for change
  when one is there); list the participants
  now and then (raising and answering queries is not in the mix yet: the
  query endpoints landed after the figures in docs/reliability.md);
- investigator (1 in 5): randomize the next waiting participant of the site
  while there are any, then open that participant and its calendar.

Every request's latency is recorded; an error is any answer other than 2xx
(or a refused connection or a timeout). Afterwards the server is stopped and
the same database's raw insert rate is measured (one row per committed
transaction, as durable as the app's own commits): the ceiling for writes.
The machine (cores, load average) is printed with the figures.

Only 127.0.0.1 is ever contacted. Every call has a timeout; the run ends
after --duration seconds (plus at most the timeout for calls in flight).
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import random
import shutil
import sys
import tempfile
import threading
import time
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import soaklib

# Items of the protocol's VITALS form (daily: no visit, one instance per day) and LAB visits.
VITALS = (
    ("respiratory_rate", 12, 30, "/min", 0),
    ("spo2", 88, 99, "%", 0),
    ("temperature", 36.0, 39.5, "degC", 2),
    ("systolic_bp", 90, 160, "mmHg", 0),
    ("pulse", 55, 130, "/min", 0),
)
VISITS = ("BASELINE", "DOSE2", "DOSE3", "D21")


@dataclass
class Stats:
    lock: threading.Lock = field(default_factory=threading.Lock)
    latencies: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    errors: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    error_examples: list[str] = field(default_factory=list)

    def record(self, op: str, seconds: float, ok: bool, detail: str = "") -> None:
        with self.lock:
            self.latencies[op].append(seconds)
            if not ok:
                self.errors[op] += 1
                if len(self.error_examples) < 20:
                    self.error_examples.append(f"{op}: {detail}"[:300])


@dataclass
class World:
    port: int
    stats: Stats
    deadline: float
    think: float
    query_paths: bool
    queue_lock: threading.Lock = field(default_factory=threading.Lock)
    waiting: dict[str, list[str]] = field(default_factory=dict)
    participants: dict[str, list[str]] = field(default_factory=dict)
    # Daily VITALS records: each round of a user is a new one (a fresh instance), so that a vital sign
    # drawn twice with the same value is never a correction that changes nothing (refused, rightly).
    vitals_instances: Iterator[int] = field(default_factory=lambda: itertools.count(1))


def think(world: World, rng: random.Random) -> None:
    """A person's pause between two clicks: uniform around the mean think time, never past the deadline."""
    time.sleep(max(0.0, min(rng.uniform(0.5, 1.5) * world.think, world.deadline - time.monotonic())))


def timed(world: World, session: soaklib.Session, op: str, method: str, path: str, payload: Any = None) -> Any:
    if time.monotonic() >= world.deadline:
        return None
    start = time.perf_counter()
    try:
        status, body = session.call(world.port, method, path, payload, timeout=30)
    except OSError as exc:
        world.stats.record(op, time.perf_counter() - start, False, f"{type(exc).__name__}: {exc}")
        return None
    ok = 200 <= status < 300
    world.stats.record(op, time.perf_counter() - start, ok, f"{status} {str(body)[:200]}")
    return body if ok else None


def coordinator(world: World, session: soaklib.Session, site: str, rng: random.Random) -> None:
    think(world, rng)  # users arrive spread over the first think time, not all in the same millisecond
    n = 0
    while time.monotonic() < world.deadline:
        sn = rng.choice(world.participants[site])
        n += 1
        if n % 10 == 1:
            timed(world, session, "list participants", "GET", "/api/participants")
            think(world, rng)
        timed(world, session, "open participant", "GET", f"/api/participants/{sn}")
        think(world, rng)
        timed(world, session, "open calendar", "GET", f"/api/participants/{sn}/calendar")
        think(world, rng)
        visit = rng.choice(VISITS)
        instance = next(world.vitals_instances)  # itertools.count: one atomic step under the GIL
        for name, low, high, unit, digits in rng.sample(VITALS, 2):
            value = f"{rng.uniform(low, high):.{digits}f}" if digits else str(rng.randint(low, high))
            body = {
                "form": "VITALS",
                "instance": instance,
                "item": name,
                "value": value,
                "unit": unit,
                "reason": "",
            }
            timed(world, session, "save vital sign", "POST", f"/api/participants/{sn}/items", body)
            think(world, rng)
        alc = {
            "form": "LAB",
            "visit": visit,
            "item": "alc",
            "value": str(rng.randint(200, 3000)) + f".{n}",
            "unit": "cells/mm3",
            "reason": "lab report",
        }
        timed(world, session, "save lab value", "POST", f"/api/participants/{sn}/items", alc)
        think(world, rng)


def investigator(world: World, session: soaklib.Session, site: str, rng: random.Random) -> None:
    think(world, rng)
    while time.monotonic() < world.deadline:
        with world.queue_lock:
            sn = world.waiting[site].pop() if world.waiting[site] else None
        if sn is not None:
            timed(world, session, "randomize", "POST", f"/api/participants/{sn}/randomize", {"confirmation": True})
            think(world, rng)
        else:
            sn = rng.choice(world.participants[site])
        timed(world, session, "open participant", "GET", f"/api/participants/{sn}")
        think(world, rng)
        timed(world, session, "open calendar", "GET", f"/api/participants/{sn}/calendar")
        think(world, rng)


def raw_insert_rate(env: dict[str, str], seconds: float) -> dict[str, Any]:
    """Rows per second into a scratch table of the same database, one committed transaction per row."""
    soaklib.django_setup(env)
    from django.db import connection, transaction

    with connection.cursor() as cursor:
        cursor.execute("CREATE TABLE soak_raw_insert (id INTEGER PRIMARY KEY, payload TEXT NOT NULL)")
    rows = 0
    start = time.perf_counter()
    deadline = start + seconds
    while time.perf_counter() < deadline:
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute("INSERT INTO soak_raw_insert (id, payload) VALUES (%s, %s)", [rows, "x" * 200])
        rows += 1
    elapsed = time.perf_counter() - start
    with connection.cursor() as cursor:
        cursor.execute("DROP TABLE soak_raw_insert")
    connection.close()
    return {"rows": rows, "seconds": round(elapsed, 2), "rows_per_second": round(rows / elapsed, 1)}


def summarize(stats: Stats, seconds: float) -> dict[str, Any]:
    every = sorted(x for values in stats.latencies.values() for x in values)
    ms = lambda values, q: round(1000 * soaklib.percentile(values, q), 1)  # noqa: E731
    per_op = {}
    for op, values in sorted(stats.latencies.items()):
        ordered = sorted(values)
        per_op[op] = {
            "requests": len(ordered),
            "errors": stats.errors.get(op, 0),
            "p50_ms": ms(ordered, 50),
            "p95_ms": ms(ordered, 95),
            "p99_ms": ms(ordered, 99),
        }
    return {
        "requests": len(every),
        "errors": sum(stats.errors.values()),
        "throughput_rps": round(len(every) / seconds, 1),
        "p50_ms": ms(every, 50),
        "p95_ms": ms(every, 95),
        "p99_ms": ms(every, 99),
        "per_operation": per_op,
        "error_examples": stats.error_examples,
    }


def run(args: argparse.Namespace) -> dict[str, Any]:
    workdir = Path(tempfile.mkdtemp(prefix=f"iliad7-load-{args.backend}-"))
    db = soaklib.Database(args.backend, workdir)
    server = soaklib.Server(db.env, workdir / "server.log", workers=args.workers)
    result: dict[str, Any] = {
        "backend": args.backend,
        "users": args.users,
        "duration_s": args.duration,
        "workers": args.workers,
        "think_s": args.think,
        "cores": os.cpu_count(),
        "loadavg_before": os.getloadavg(),
    }
    try:
        trial = soaklib.prepare(db.env, participants=args.participants, seed=args.seed, users_per_role=2)
        server.start()
        stats = Stats()
        world = World(port=server.port, stats=stats, deadline=0.0, think=args.think, query_paths=False)
        world.waiting = {site: list(trial.waiting[site]) for site in soaklib.SITES}
        world.participants = {site: list(trial.waiting[site]) for site in soaklib.SITES}
        plan = []
        for i in range(args.users):
            site = soaklib.SITES[i % 2]
            role = "investigator" if i % 5 == 4 else "coordinator"
            names = trial.users[f"{role}@{site}"]
            plan.append((role, site, soaklib.Session(names[i % len(names)])))
        login_start = time.monotonic()
        for _role, _site, session in plan:  # sign-ins (Argon2) before the clock starts
            session.login(server.port, timeout=60)
        result["login_seconds"] = round(time.monotonic() - login_start, 1)
        # The OpenAPI document is served to signed-in users only.
        _status, openapi = plan[0][2].call(server.port, "GET", "/api/openapi.json", timeout=60)
        world.query_paths = any("quer" in p for p in openapi["paths"])
        # Warm-up, not measured: every worker imports and loads what its first requests need.
        warm = plan[0][2]
        for i in range(6 * args.workers):
            sn = world.participants["MSKCC"][i % len(world.participants["MSKCC"])]
            for path in ("/api/participants", f"/api/participants/{sn}", f"/api/participants/{sn}/calendar"):
                warm.call(server.port, "GET", path, timeout=60)
        start = time.monotonic()
        world.deadline = start + args.duration
        threads = [
            threading.Thread(
                target=investigator if role == "investigator" else coordinator,
                args=(world, session, site, random.Random(args.seed + i)),
                daemon=True,
            )
            for i, (role, site, session) in enumerate(plan)
        ]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=args.duration + 60)
        elapsed = time.monotonic() - start
        result["loadavg_after"] = os.getloadavg()
        result["measured_seconds"] = round(elapsed, 1)
        result.update(summarize(stats, elapsed))
        result["query_endpoints"] = world.query_paths
        server.stop()
        result["raw_insert"] = raw_insert_rate(db.env, args.ceiling_seconds)
        return result
    finally:
        server.kill()
        db.close()
        shutil.rmtree(workdir, ignore_errors=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backend", choices=("sqlite", "postgresql"), default="sqlite")
    parser.add_argument("--users", type=int, default=50, help="concurrent simulated site users")
    parser.add_argument("--duration", type=float, default=30, help="measured seconds")
    parser.add_argument("--think", type=float, default=2.0, help="mean think time between two requests (s)")
    parser.add_argument("--workers", type=int, default=4, help="gunicorn workers (iliad7 serve --workers)")
    parser.add_argument("--participants", type=int, default=100, help="waiting participants to randomize")
    parser.add_argument("--ceiling-seconds", type=float, default=5, help="duration of the raw insert measurement")
    parser.add_argument("--seed", type=int, default=20261125)
    parser.add_argument("--json", dest="json_out", help="write the result as JSON to this file")
    parser.add_argument("--max-p95-ms", type=float, help="exit 1 if the overall p95 is above this")
    parser.add_argument("--max-errors", type=int, help="exit 1 if there are more errors than this")
    args = parser.parse_args(argv)
    result = run(args)
    text = json.dumps(result, indent=2)
    if args.json_out:
        Path(args.json_out).write_text(text + "\n")
    print(text)
    failed = (args.max_p95_ms is not None and result["p95_ms"] > args.max_p95_ms) or (
        args.max_errors is not None and result["errors"] > args.max_errors
    )
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
