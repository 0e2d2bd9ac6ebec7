"""Three-valued soundness of all 24 criteria, over generated screening records (hypothesis).

Removing data (a field, a nested value, a key of a list entry) may only turn a decided criterion
into ``unknown``, never into the other decided value: what a partial record decides, every
completion of it decides the same way. Timed lists (ALC, NEWS2) are complete data, so adding an
entry is new data, not a completion: it may turn ``pass`` into ``fail`` only when the failure
names the new entry.
"""

from __future__ import annotations

import copy
import random
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from iliad7.eligibility import CRITERION_IDS, parse_record, screen

sys.path.insert(0, str(Path(__file__).parents[2] / "bench"))
from screening_inputs import record as generated_record

SOFA_INPUTS = {
    "pao2_fio2": [80, 150, 250, 350, 450], "respiratory_support": [True, False], "platelets": [15, 40, 90, 140, 200],
    "bilirubin": [0.8, 1.5, 3.0, 8.0, 13.0], "map": [60, 75], "dopamine": [0, 4, 8, 16], "norepinephrine": [0, 0.05, 0.2],
    "epinephrine": [0, 0.05, 0.2], "dobutamine": [True, False], "gcs": [3, 8, 11, 14, 15],
    "creatinine": [0.8, 1.5, 2.5, 4.0, 6.0], "urine_output": [150, 400, 1500],
}  # fmt: skip


def varied_record(seed: int) -> dict[str, Any]:
    """The benchmark's record, with the shapes it never makes: null starts, missing devices,
    SOFA input objects, null oncology dates, lists with gaps."""
    rng = random.Random(seed)
    record = generated_record(rng)
    t0 = datetime.fromisoformat(record["baseline_time"])
    roll = rng.random()
    if roll < 0.2:  # a ventilated patient whose device is not recorded
        record["respiratory_support"] = {"device": None, "oxygen_flow_lpm": None}
        record["mechanical_ventilation_start"] = rng.choice(
            [None, (t0 - timedelta(hours=rng.choice([1, 100, 167.9, 168, 240]))).isoformat()]
        )
    elif roll < 0.3:
        record["respiratory_support"] = {"device": rng.choice(["mechanical_ventilation", "ecmo"])}
        record["mechanical_ventilation_start"] = None
    elif roll < 0.4:
        record.pop("respiratory_support")
    if rng.random() < 0.3:
        record["sofa"] = {k: rng.choice(v) for k, v in SOFA_INPUTS.items() if rng.random() < 0.8}
    for name in ("alt", "ast"):
        if rng.random() < 0.5:
            record[name]["time"] = (t0 - timedelta(hours=rng.choice([0, 5, 100]))).isoformat()
            record[name]["unit"] = "U/L"
    for name in list(record["oncology"]):
        if rng.random() < 0.1:
            record["oncology"][name] = None
    if rng.random() < 0.3:
        start = t0 - timedelta(hours=72)
        record["news2"] = [
            {
                "time": (start + timedelta(hours=rng.choice([0, 10, 30, 60, 72]))).isoformat(),
                "score": rng.randint(0, 14),
            }
            for _ in range(rng.randint(1, 4))
        ]
    parse_record(record)  # every variation is a valid record
    return record


def leaf_paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every key that can be removed: top-level fields, nested keys and keys of list entries."""
    paths: list[tuple[Any, ...]] = []
    if isinstance(value, dict):
        for key, inner in value.items():
            paths.append((*prefix, key))
            paths.extend(leaf_paths(inner, (*prefix, key)))
    elif isinstance(value, list):
        for index, inner in enumerate(value):
            paths.extend(leaf_paths(inner, (*prefix, index)))
    return paths


def without(record: dict[str, Any], path: tuple[Any, ...]) -> dict[str, Any]:
    reduced = copy.deepcopy(record)
    target: Any = reduced
    for part in path[:-1]:
        target = target[part]
    del target[path[-1]]
    return reduced


def statuses(record: dict[str, Any]) -> dict[str, tuple[str, str]]:
    return {c.id: (c.status, c.reason) for c in screen(parse_record(record)).criteria}


@settings(max_examples=400, deadline=None)
@given(seed=st.integers(0, 2**32), picks=st.lists(st.integers(0, 10**6), min_size=1, max_size=5))
def test_removing_any_value_only_ever_makes_a_criterion_unknown(seed: int, picks: list[int]) -> None:
    full_record = varied_record(seed)
    full = statuses(full_record)
    partial_record = full_record
    removed = []
    for pick in picks:
        paths = leaf_paths(partial_record)
        if not paths:
            break
        path = paths[pick % len(paths)]
        partial_record = without(partial_record, path)
        removed.append(path)
    partial = statuses(partial_record)
    assert list(partial) == list(CRITERION_IDS)
    for cid, (status, reason) in partial.items():
        if status != "unknown":
            assert status == full[cid][0], (cid, removed, reason, full[cid][1])


@settings(max_examples=300, deadline=None)
@given(
    seed=st.integers(0, 2**32),
    which=st.sampled_from(["alc", "news2"]),
    hours_before=st.sampled_from([-1, 0, 1, 24, 71.9, 72, 73]),
    low=st.booleans(),
    score=st.integers(0, 20),
)
def test_a_new_list_entry_fails_a_passing_criterion_only_by_itself(
    seed: int, which: str, hours_before: float, low: bool, score: int
) -> None:
    record = varied_record(seed)
    record.setdefault(which, [])
    before = statuses(record)
    t0 = datetime.fromisoformat(record["baseline_time"]).astimezone(UTC)
    when = t0 - timedelta(hours=hours_before)
    entry: dict[str, Any]
    if which == "alc":
        entry = {"time": when.isoformat(), "value": 600 if low else 1600, "unit": "cells/uL"}
    else:
        entry = {"time": when.isoformat(), "score": score}
    record[which] = [*record[which], entry]
    after = statuses(record)
    shown = when.strftime("%Y-%m-%d %H:%M")
    for cid in CRITERION_IDS:
        if before[cid][0] == "pass" and after[cid][0] == "fail":
            assert shown in after[cid][1], (cid, entry, after[cid][1])
        if before[cid][0] == "fail" and after[cid][0] == "pass":
            # only an inclusion can be met by new data (a low ALC), never an exclusion lifted
            assert cid.startswith("INC-"), (cid, entry)


def test_a_null_ventilation_start_without_the_device_is_unknown() -> None:
    """The case the property found: it could be a patient ventilated for 10 days."""
    base = varied_record(1)
    base.pop("respiratory_support", None)
    base["mechanical_ventilation_start"] = None
    result = {c.id: c for c in screen(parse_record(base)).criteria}["EXC-PROLONGED-MV"]
    assert result.status == "unknown" and result.missing == ("respiratory_support.device",)
    t0 = datetime.fromisoformat(base["baseline_time"])
    ventilated = {**base, "respiratory_support": {"device": "mechanical_ventilation"},
                  "mechanical_ventilation_start": (t0 - timedelta(days=10)).isoformat()}  # fmt: skip
    assert {c.id: c.status for c in screen(parse_record(ventilated)).criteria}["EXC-PROLONGED-MV"] == "fail"


def test_a_liver_test_after_baseline_is_refused_naming_its_time() -> None:
    """The second case the property found: judged `unknown`, the same record without its time (or
    without T0) decided EXC-LIVER. `alt` is the latest value at or before T0; a later one is not it."""
    import pytest
    from pydantic import ValidationError

    base = varied_record(2)
    t0 = datetime.fromisoformat(base["baseline_time"])
    base["alt"] = {"value": 40, "uln": 40, "time": (t0 + timedelta(minutes=1)).isoformat()}
    with pytest.raises(ValidationError, match=r"alt\.time: after the baseline time"):
        parse_record(base)
    base["alt"]["time"] = t0.isoformat()  # at T0 is at or before T0
    assert {c.id: c.status for c in screen(parse_record(base)).criteria}["EXC-LIVER"] in {"pass", "fail"}


@settings(max_examples=2000, deadline=None)
@given(
    base=st.one_of(st.floats(0.01, 500, allow_nan=False), st.integers(1, 500).map(float)),
    nudge=st.sampled_from([0.0, 1e-13, -1e-13, 1e-9, -1e-9, 0.01, -0.01, 3.0]),
)
def test_the_float_fast_paths_decide_as_the_exact_decimals(base: float, nudge: float) -> None:
    """EXC-LIVER and EXC-BMI compare in floats away from the boundary: never differently from exact decimals."""
    from decimal import Decimal

    from iliad7.eligibility.criteria import _above, exc_bmi
    from iliad7.scores.bmi import bmi_above
    from iliad7.scores.numbers import exact

    value = base * 5 + nudge
    if value >= 0:
        assert _above(value, Decimal(5), base) == (exact(value) > 5 * exact(base))
    height = min(max(base, 50.0), 250.0)
    weight = round(40 * (height / 100) ** 2 + nudge, 12)
    if 0 < weight <= 700:
        status = exc_bmi({"weight_kg": weight, "height_cm": height}).status
        assert status == ("fail" if bmi_above(exact(weight), exact(height), Decimal(40)) else "pass")
