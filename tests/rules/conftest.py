"""Shared screening fixtures: the spec's eligible example record and a way to vary it."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from iliad7.eligibility import Screening, parse_record, screen

VECTORS = Path(__file__).parents[1] / "vectors" / "contract_examples.json"
CONTRACT_EXAMPLES: list[dict[str, Any]] = json.loads(VECTORS.read_text())
ELIGIBLE = next(
    e["input"] for e in CONTRACT_EXAMPLES if e["kind"] == "screen" and e["expected"]["verdict"] == "eligible"
)
DELETE = object()


def varied(**changes: Any) -> dict[str, Any]:
    """The eligible example with changes; ``a__b__0`` reaches nested keys, DELETE removes a key."""
    record = copy.deepcopy(ELIGIBLE)
    for path, value in changes.items():
        *parents, last = path.split("__")
        target = record
        for key in parents:
            target = target[int(key)] if isinstance(target, list) else target[key]
        if isinstance(target, list):
            target[int(last)] = value
        elif value is DELETE:
            target.pop(last, None)
        else:
            target[last] = value
    return record


def judge(**changes: Any) -> Screening:
    return screen(parse_record(varied(**changes)))


def criterion(cid: str, **changes: Any) -> tuple[str, tuple[str, ...]]:
    result = next(c for c in judge(**changes).criteria if c.id == cid)
    assert result.reason, f"{cid} has no reason"
    return result.status, result.missing


@pytest.fixture
def eligible_record() -> dict[str, Any]:
    return copy.deepcopy(ELIGIBLE)
