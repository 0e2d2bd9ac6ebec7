"""Eligibility of a screening record for ILIAD-7-US-O (clinical-rules section 3), as pure functions.

``screen(record)`` judges a :class:`ScreeningRecord` at its baseline time T0:
``ineligible`` if any criterion fails, else ``incomplete`` if any is unknown,
else ``eligible``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from iliad7.eligibility.criteria import CRITERIA, CRITERION_IDS, CriterionResult
from iliad7.eligibility.record import SCREENING_RECORDS, ScreeningRecord, parse_record

Verdict = Literal["eligible", "ineligible", "incomplete"]


@dataclass(slots=True)
class Screening:
    """The verdict on one record; field order is the contract's (serialized as is)."""

    verdict: Verdict
    criteria: tuple[CriterionResult, ...]
    failed: tuple[str, ...]
    unknown: tuple[str, ...]

    def as_contract(self) -> dict[str, object]:
        return {
            "verdict": self.verdict,
            "criteria": [c.as_contract() for c in self.criteria],
            "failed": list(self.failed),
            "unknown": list(self.unknown),
        }


_JUDGES = tuple(criterion for _, criterion in CRITERIA)


def screen(record: ScreeningRecord) -> Screening:
    """Judge every criterion, in protocol order, and give the verdict."""
    results = tuple([judge(record) for judge in _JUDGES])
    failed = tuple([r.id for r in results if r.status == "fail"])
    unknown = tuple([r.id for r in results if r.status == "unknown"])
    verdict: Verdict = "ineligible" if failed else "incomplete" if unknown else "eligible"
    return Screening(verdict, results, failed, unknown)


__all__ = [
    "CRITERION_IDS",
    "SCREENING_RECORDS",
    "CriterionResult",
    "Screening",
    "ScreeningRecord",
    "Verdict",
    "parse_record",
    "screen",
]
