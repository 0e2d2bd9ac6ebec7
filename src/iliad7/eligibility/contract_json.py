"""Screening results as the contract's JSON, each shared criterion result serialized once.

The criteria cache their outcomes, so when a batch's records are alike (a hospital population: most
persons are outpatients with the same unknowns) most results are the same few objects, and a line is
mostly a join of bytes already made: three times faster than `orjson.dumps` of the dataclasses for
the pre-screening. For records that differ in every field (`iliad7 screen`'s benchmark) plain
`orjson.dumps` is faster, and `iliad7 screen` uses it. The bytes are exactly `orjson.dumps`'s
(tests/prescreen/test_prescreen_differential.py compares them).
"""

from __future__ import annotations

import orjson

from iliad7.eligibility import CriterionResult, Screening


class ResultJson:
    """Serializes screenings; one per batch (it holds the results it has seen, up to a bound)."""

    def __init__(self, bound: int = 200_000) -> None:
        self.cache: dict[int, bytes] = {}
        self.held: list[CriterionResult] = []  # cached objects stay alive, so no id in the cache is reused
        self.bound = bound

    def _miss(self, result: CriterionResult) -> bytes:
        if len(self.held) >= self.bound:
            self.cache.clear()
            self.held.clear()
        self.held.append(result)
        made = self.cache[id(result)] = orjson.dumps(result)
        return made

    def criteria(self, screening: Screening) -> bytes:
        get, miss = self.cache.get, self._miss
        return b",".join([get(id(c)) or miss(c) for c in screening.criteria])

    def screening(self, screening: Screening) -> bytes:
        """`orjson.dumps(screening)`: verdict, criteria, failed, unknown."""
        return b'{"verdict":"%s","criteria":[%s],"failed":%s,"unknown":%s}' % (
            screening.verdict.encode(),
            self.criteria(screening),
            orjson.dumps(screening.failed),
            orjson.dumps(screening.unknown),
        )

    def line(self, person_id: int, screening: Screening) -> bytes:
        """A pre-screening line: person_id, verdict, criteria."""
        return b'{"person_id":%d,"verdict":"%s","criteria":[%s]}' % (
            person_id,
            screening.verdict.encode(),
            self.criteria(screening),
        )
