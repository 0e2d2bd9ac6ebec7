"""The CONSORT counts of a trial (docs/sap.md section 6): screened, excluded by reason, randomized, treated, analysed.

One function for both sources: a simulated trial's screening results and the database's screening
log give the same triples (verdict, failed criteria, unknown criteria).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from typing import Any

import polars as pl

from iliad7.analysis.datasets import AnalysisData

Screening = tuple[str, Sequence[str], Sequence[str]]  # verdict, failed criteria, unknown criteria


def consort_counts(screenings: Iterable[Screening], data: AnalysisData) -> dict[str, Any]:
    """Counts for the disposition table and the flow diagram.

    An excluded participant is counted under the first criterion that failed, or else the first
    that could not be decided (``incomplete: ID``). Eligible participants not in ADSL are waiting
    for randomization (the database at an interim; none in a simulated trial).
    """
    excluded: Counter[str] = Counter()
    screened = eligible = 0
    for verdict, failed, unknown in screenings:
        screened += 1
        if verdict == "eligible":
            eligible += 1
            continue
        reason = failed[0] if failed else f"incomplete: {unknown[0]}" if unknown else "no criterion recorded"
        excluded[reason] += 1
    adsl = data.adsl
    primary = data.adlb.filter(pl.col("ANL01FL") == "Y")["USUBJID"]
    return {
        "screened": screened,
        "excluded": dict(sorted(excluded.items())),
        "eligible_not_randomized": max(eligible - adsl.height, 0),
        "randomized": adsl.height,
        "treated": int((adsl["MITTFL"] == "Y").sum()),
        "analysed_primary": int(
            adsl.filter((pl.col("MITTFL") == "Y") & pl.col("USUBJID").is_in(primary.implode())).height
        ),
        "analysed_mortality": int((adsl["ITTFL"] == "Y").sum()),
    }
