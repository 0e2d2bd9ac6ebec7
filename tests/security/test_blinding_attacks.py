"""The blinding attacked as issue 19's attacker did: with the demo's public seed, the project's own code
and the values a blinded role reads, try to recover the arms. Each attack is shown to work where the
defence is absent (so the test can fail) and to fail against what the trial database now holds.

1. Kit codes and the list: the demo cohort's seed is public (Makefile); the list was generated from
   it, so `generate_allocation_list(seed=20201220)` mapped every kit code to its arm.
2. The simulated courses: knowing the cohort's seed, re-simulate each participant under either arm
   and see which one the database's laboratory values match.
3. The closed report's hash: the audit trail (read by a blinded data manager) held the SHA-256 of
   the closed datasets, which differ from the blinded data only by the arm vector; trying all 2^n
   vectors found it.
"""

from __future__ import annotations

import math
import re
from dataclasses import replace
from itertools import product
from pathlib import Path
from typing import Any

import polars as pl
import pytest

from iliad7.randomization import SeededKitCodes, Slot, generate_allocation_list, protocol_strata
from iliad7.simulate import load_parameters, simulate_cohort

DEMO_SEED = 20201220  # `make run`: iliad7 simulate cohort --n 48 --seed 20201220
ARMS = ("CYT107", "placebo")
HEX64 = re.compile(r"\b[0-9a-f]{64}\b")


def _protocol() -> Any:
    from iliad7.protocol import load_protocol

    return load_protocol()


def _attackers_lists(slots_per_stratum: int) -> list[list[Slot]]:
    """The lists an attacker derives from the public seed with the project's code: as the list was made
    before issue 19 (arms and kit codes from the seed), and as the simulated world still makes its own."""
    protocol = _protocol()
    strata = protocol_strata(protocol.sites)
    return [
        generate_allocation_list(protocol.randomization, strata, seed=DEMO_SEED, slots_per_stratum=slots_per_stratum,
                                 kit_codes=SeededKitCodes(DEMO_SEED)),
        generate_allocation_list(protocol.randomization, strata, seed=DEMO_SEED, slots_per_stratum=slots_per_stratum),
    ]  # fmt: skip


def _with_arms(slots: list[Slot], arm_of: dict[str, str]) -> list[Slot]:
    return [replace(s, arm=arm_of.get(s.randomization_number, s.arm)) for s in slots]


def _course_attack(
    n: int, observed: list[dict[int, float]], numbers: list[str], tolerance: float
) -> list[tuple[str, ...]]:
    """The attacker's search: simulate the public seed's cohort under every arm vector and keep the vectors
    whose simulated ALC matches every value the database shows (2^n simulations: small n here)."""
    params = load_parameters()
    template = _attackers_lists(n)[0]
    matches = []
    for vector in product(ARMS, repeat=n):
        cohort = simulate_cohort(
            params, DEMO_SEED, n, allocation=_with_arms(template, dict(zip(numbers, vector, strict=True)))
        )
        if all(
            not math.isnan(item.participant.alc[day])
            and math.isclose(item.participant.alc[day], value, rel_tol=tolerance)
            for item, seen in zip(cohort.randomized, observed, strict=True)
            for day, value in seen.items()
        ):
            matches.append(vector)
    return matches


def _observed_alc(cohort: Any) -> list[dict[int, float]]:
    """What the simulator's values are at the scheduled visits after day 0 (as the LAB forms show them)."""
    schedule = _protocol().schedule
    days = sorted({schedule.visit(v).target_day for v in ("D7", "D14", "D21") if v in {x.id for x in schedule.visits}})
    rows = []
    for item in cohort.randomized:
        alc = item.participant.alc
        rows.append({d: float(alc[d]) for d in days if d < len(alc) and not math.isnan(alc[d])})
    return rows


# ---- 1 and 2, at the level of the simulator: the attacks work without the defences -----------------------


def test_the_course_attack_recovers_every_arm_without_the_course_key_and_none_with_it() -> None:
    n = 4
    params = load_parameters()
    protocol = _protocol()
    secret_list = generate_allocation_list(protocol.randomization, protocol_strata(protocol.sites), seed=987654321,
                                           slots_per_stratum=n)  # fmt: skip
    exposed = simulate_cohort(params, DEMO_SEED, n, allocation=secret_list)
    numbers = [item.randomization_number for item in exposed.randomized]
    truth = [item.participant.baseline.arm for item in exposed.randomized]
    assert set(truth) == set(ARMS)
    # Without a course key the values are a function of the public seed and the arms: the attack wins.
    assert _course_attack(n, _observed_alc(exposed), numbers, 1e-9) == [tuple(truth)]
    # With the secret key (what the database replay uses) no hypothesis reproduces the values.
    keyed = simulate_cohort(params, DEMO_SEED, n, allocation=secret_list, course_key=0x5EC2E7)
    assert _course_attack(n, _observed_alc(keyed), numbers, 1e-3) == []


# ---- against the trial database ------------------------------------------------------------------------


@pytest.fixture
def demo_trial(db: None) -> dict[str, Any]:
    """A demo-like trial: the cohort replayed exactly as `make run` does it (no list seed, no course key)."""
    from iliad7.store.actions import load_protocol_version
    from iliad7.store.simulation import run_simulated_cohort

    load_protocol_version(Path(__file__).resolve().parents[2] / "protocols" / "iliad-7-us-o.yaml", channel="system")
    run = run_simulated_cohort(n=4, seed=DEMO_SEED)
    return {"run": run}


@pytest.mark.django_db
def test_a_list_made_without_a_seed_shares_nothing_with_the_public_seeds_lists(sites: Any, make_user: Any) -> None:
    from iliad7.store.actions import export_allocation_slots, generate_allocation_list

    stat = make_user("stat", ["unblinded-statistician"])
    generate_allocation_list(acting_user=stat, channel="cli")  # as `simulate cohort` now does: no seed
    stored = [slot for slot, _ in export_allocation_slots(acting_user=stat, channel="cli")]
    assert len(stored) >= 96
    for attackers in _attackers_lists(max(s.sequence for s in stored)):
        predicted = {s.randomization_number: s for s in attackers}
        agree = sum(predicted[s.randomization_number].arm == s.arm for s in stored) / len(stored)
        # A list from another seed agrees on about half the slots; 0.8 of 96 by chance is odds of 1e-9.
        assert agree < 0.8, agree
        assert not {s.kit_code for s in stored} & {s.kit_code for s in attackers}


@pytest.mark.django_db
def test_the_demo_cohort_is_randomized_on_a_secret_list_and_its_courses_cannot_be_re_simulated(
    demo_trial: dict[str, Any], make_user: Any
) -> None:
    from iliad7.protocol import load_protocol
    from iliad7.store.actions import export_allocation_slots, randomization_of
    from iliad7.store.blinding_key import open_seed
    from iliad7.store.models import AllocationList, AuditRecord, ItemValue, Participant

    # The list's seed is not the cohort's, and came from the OS generator.
    stored_list = AllocationList.objects.get(active=True)
    assert open_seed(stored_list.sealed_seed) != DEMO_SEED
    generated = AuditRecord.objects.get(action="allocation.generate")
    assert '"seed_source":"secrets"' in generated.new_value
    # What a blinded coordinator reads: each participant's randomization number and kit code.
    randomized = [p for p in Participant.objects.order_by("id") if p.usubjid]
    shown = [randomization_of(p) for p in randomized]
    stat = make_user("ustat", ["unblinded-statistician"])
    truth = {s.randomization_number: s.arm for s, _ in export_allocation_slots(acting_user=stat, channel="cli")}
    for attackers in _attackers_lists(4):
        assert not {r.kit_code for r in shown} & {s.kit_code for s in attackers}  # no kit code is predictable
    # The course attack on the values the LAB forms show.
    schedule = load_protocol().schedule
    observed = []
    for participant in randomized:
        values = {}
        for row in ItemValue.objects.filter(participant=participant, form="LAB", item="alc").exclude(
            visit__in=("BASELINE", "D30")
        ):
            values[schedule.visit(row.visit).target_day] = float(row.value)
        observed.append(values)
    assert any(observed), "the replay entered follow-up ALC values"
    numbers = [r.randomization_number for r in shown]
    recovered = _course_attack(len(randomized), observed, numbers, 2e-3)
    assert recovered == []
    assert set(truth.values()) == set(ARMS)  # both arms are there to be found


def _flip(data: Any, flipped: set[str]) -> Any:
    """The analysis datasets with the arms of `flipped` participants swapped (every arm column)."""
    from iliad7.analysis.report import ARM_COLUMNS

    frames = {}
    for name, frame in data.frames().items():
        columns = [c for c in ARM_COLUMNS if c in frame.columns]
        if columns and "USUBJID" in frame.columns and flipped:
            swaps = {}
            for c in columns:
                values = sorted(v for v in frame[c].unique().to_list() if v is not None)
                swaps[c] = dict(zip(values, reversed(values), strict=True)) if len(values) == 2 else {}
            frame = frame.with_columns(
                **{
                    c: pl.when(pl.col("USUBJID").is_in(sorted(flipped)))
                    .then(pl.col(c).replace(swaps[c]))
                    .otherwise(pl.col(c))
                    for c in columns
                }
            )
        frames[name] = frame
    return type(data)(**frames)


@pytest.mark.django_db
def test_brute_forcing_the_arm_vector_against_the_closed_reports_digest_finds_nothing(
    demo_trial: dict[str, Any], make_user: Any, tmp_path: Path
) -> None:
    from iliad7.analysis.ard import snapshot_hash
    from iliad7.standards.analysis_data import analysis_data
    from iliad7.standards.sdtm import build_sdtm
    from iliad7.standards.snapshot import read_snapshot
    from iliad7.store.actions.reports import write_trial_report
    from iliad7.web.reads import audit_records

    stat = make_user("ustat", ["unblinded-statistician"])
    report = write_trial_report(stat, tmp_path, closed=True, channel="cli")
    # What the blinded data manager reads: the whole trail.
    dm = make_user("dm", ["data-manager"])
    visible = " ".join(f"{r.object_id} {r.old_value} {r.new_value} {r.reason}" for r in audit_records(dm, limit=10**6))
    assert "snapshot_hmac_sha256" in visible and "snapshot_sha256" not in visible
    digests = set(HEX64.findall(visible))
    # The attacker's candidates: the closed datasets under every arm vector (the truth among them).
    data = analysis_data(read_snapshot(stat), build_sdtm(read_snapshot(stat)))
    participants = sorted(data.adsl["USUBJID"].to_list())
    assert 2 ** len(participants) <= 64
    candidates = {
        snapshot_hash(_flip(data, {u for u, f in zip(participants, flips, strict=True) if f}))
        for flips in product((False, True), repeat=len(participants))
    }
    assert report.snapshot_sha256 in candidates  # the brute force does reach the true hash...
    assert len(candidates) == 2 ** len(participants)
    assert not candidates & digests  # ...but nothing a blinded reader sees is any of them
