"""Run by test_randomize_concurrency.py in subprocesses: set up a trial database, or randomize from it.

    python concurrency_script.py setup PER_SITE SLOTS    # users, list, PER_SITE ready participants per site
    python concurrency_script.py work START_AT SN ...    # randomize each SN (as its site's investigator)
    python concurrency_script.py state                   # the slots and participants, as JSON

The database is the one the environment names (ILIAD7_HOME or DATABASE_URL).
"""

from __future__ import annotations

import json
import os
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def _django() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "iliad7.settings")
    import django
    from django.conf import settings

    django.setup()
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


def setup(per_site: int, slots: int) -> None:
    from iliad7.store import runtime

    runtime.migrate()
    from iliad7.store.actions import (
        add_user,
        create_participant,
        generate_allocation_list,
        load_protocol_version,
        record_consent,
        save_screening,
    )

    load_protocol_version(REPO / "protocols" / "iliad-7-us-o.yaml", channel="system")
    record = next(
        e["input"]
        for e in json.loads((REPO / "tests" / "vectors" / "contract_examples.json").read_text())
        if e["kind"] == "screen" and e["expected"]["verdict"] == "eligible"
    )

    def user(name: str, role: str, sites: list[str]):  # type: ignore[no-untyped-def]
        return add_user(
            name, password="correct-horse-battery-staple", roles=[role], sites=sites, acting_user=None, channel="system"
        )

    stat = user("stat", "unblinded-statistician", [])
    generate_allocation_list(seed=987654321987, acting_user=stat, channel="system", slots_per_stratum=slots)
    numbers = []
    for site in ("MSKCC", "MDACC"):
        user(f"inv-{site}", "investigator", [site])
        coord = user(f"coord-{site}", "coordinator", [site])
        for _ in range(per_site):
            p = create_participant(site=site, acting_user=coord, channel="system")
            save_screening(p, record, acting_user=coord, channel="system")
            record_consent(
                p,
                consent_type="written",
                given_by="participant",
                obtained_at=datetime(2026, 11, 20, tzinfo=UTC),
                form_version="v1",
                obtained_by="Dr A",
                acting_user=coord,
                channel="system",
            )
            numbers.append(p.screening_number)
    print(json.dumps(numbers))


def work(start_at: float, numbers: list[str]) -> None:
    from iliad7.errors import RandomizationRefused
    from iliad7.store.actions import randomize_participant
    from iliad7.store.models import Participant, User

    investigators = {u.username: u for u in User.objects.filter(username__startswith="inv-")}
    participants = {p.screening_number: p for p in Participant.objects.select_related("site")}
    while time.time() < start_at:  # start together, after every worker has loaded Django
        time.sleep(0.005)
    results = []
    for number in numbers:
        p = participants[number]
        try:
            r = randomize_participant(
                p, acting_user=investigators[f"inv-{p.site.code}"], confirmation=True, channel="system"
            )
            results.append({"sn": number, "ok": True, "number": r.randomization_number, "usubjid": r.usubjid})
        except RandomizationRefused as exc:
            results.append({"sn": number, "ok": False, "reason": str(exc)})
        except Exception as exc:  # reported, and the test fails on it
            results.append({"sn": number, "ok": False, "error": f"{type(exc).__name__}: {exc}"})
    print(json.dumps(results))


def state() -> None:
    from iliad7.audit import trail
    from iliad7.store.models import AllocationSlot, Participant

    slots = [
        {"stratum": s.stratum, "sequence": s.sequence, "number": s.randomization_number, "participant": p}
        for s, p in (
            (s, s.participant.screening_number if s.participant_id else None)
            for s in AllocationSlot.objects.select_related("participant").filter(allocation_list__active=True)
        )
    ]
    participants = {
        p.screening_number: [p.site.code, p.status, p.usubjid] for p in Participant.objects.select_related("site")
    }
    print(json.dumps({"slots": slots, "participants": participants, "chain_ok": trail.verify().ok}))


if __name__ == "__main__":
    _django()
    mode, args = sys.argv[1], sys.argv[2:]
    if mode == "setup":
        setup(int(args[0]), int(args[1]))
    elif mode == "work":
        work(float(args[0]), args[1:])
    else:
        state()
