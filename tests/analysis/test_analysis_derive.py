"""Each derive_* function of iliad7.analysis.derive at its boundaries (SAP section 3)."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest

from iliad7.analysis.datasets import ADSL_SOURCE, check
from iliad7.analysis.derive import (
    derive_anl01fl,
    derive_base,
    derive_dthfl,
    derive_hospital_los,
    derive_icu_los,
    derive_osfd,
    derive_populations,
    derive_readmissions,
    derive_tte_death,
    derive_tte_infection,
    derive_tte_who_improvement,
    derive_who_endpoint,
    protocol_days,
)
from iliad7.errors import InputError

HORIZON = 45


def adsl(*rows: dict) -> pl.DataFrame:
    """ADSL source rows: defaults for every column, overridden per participant."""
    default = {
        "USUBJID": "MSKCC-00001",
        "SITEID": "MSKCC",
        "TRT01P": "CYT107",
        "ACTARM": "CYT107",
        "AGE": 60,
        "SEX": "F",
        "WEIGHTBL": 70.0,
        "SEVERITY": "o2",
        "WHOBL": 5,
        "ALCBL": 500.0,
        "NDOSES": 3,
        "DVMAJFL": "N",
        "DTHDY": None,
        "LSTALVDY": 45,
        "DSCHDY": None,
    }
    return pl.DataFrame([{**default, **row} for row in rows], schema=dict(ADSL_SOURCE.columns))


def lab(records: list[tuple[str, int, float]], paramcd: str = "LYM") -> pl.DataFrame:
    return pl.DataFrame(
        {
            "USUBJID": [r[0] for r in records],
            "PARAMCD": [paramcd] * len(records),
            "AVAL": [r[2] for r in records],
            "ADY": [r[1] for r in records],
            "AVISIT": ["V"] * len(records),
            "AVISITN": [r[1] for r in records],
        },
        schema={
            "USUBJID": pl.String,
            "PARAMCD": pl.String,
            "AVAL": pl.Float64,
            "ADY": pl.Int64,
            "AVISIT": pl.String,
            "AVISITN": pl.Int64,
        },
    )


def flagged(adlb: pl.DataFrame) -> dict[str, int]:
    rows = adlb.filter(pl.col("ANL01FL") == "Y")
    return dict(zip(rows["USUBJID"].to_list(), rows["ADY"].to_list(), strict=True))


def support(*episodes: tuple[str, str, int, int | None]) -> pl.DataFrame:
    return pl.DataFrame(
        [{"USUBJID": u, "SUPPCAT": c, "STARTDY": s, "ENDDY": e} for u, c, s, e in episodes],
        schema={"USUBJID": pl.String, "SUPPCAT": pl.String, "STARTDY": pl.Int64, "ENDDY": pl.Int64},
    )


def stays(*episodes: tuple[str, str, int, int | None]) -> pl.DataFrame:
    return pl.DataFrame(
        [{"USUBJID": u, "HOCAT": c, "STARTDY": s, "ENDDY": e} for u, c, s, e in episodes],
        schema={"USUBJID": pl.String, "HOCAT": pl.String, "STARTDY": pl.Int64, "ENDDY": pl.Int64},
    )


def who(records: list[tuple[str, int, int]]) -> pl.DataFrame:
    return pl.DataFrame(
        {
            "USUBJID": [r[0] for r in records],
            "PARAMCD": ["WHO"] * len(records),
            "AVAL": [r[2] for r in records],
            "ADY": [r[1] for r in records],
        },
        schema={"USUBJID": pl.String, "PARAMCD": pl.String, "AVAL": pl.Int64, "ADY": pl.Int64},
    )


def test_protocol_days_come_from_the_protocol() -> None:
    days = protocol_days()
    assert (days.endpoint_day, days.endpoint_window, days.horizon_day) == (30, 2, 45)


# --- populations


def test_populations_randomized_dosed_and_deviation() -> None:
    frame = derive_populations(
        adsl(
            {"USUBJID": "A", "NDOSES": 0, "ACTARM": None},
            {"USUBJID": "B", "NDOSES": 1},
            {"USUBJID": "C", "NDOSES": 7, "DVMAJFL": "Y"},
            {"USUBJID": "D", "NDOSES": 2, "TRT01P": "placebo", "ACTARM": "CYT107"},
        )
    )
    got = {r["USUBJID"]: (r["ITTFL"], r["MITTFL"], r["SAFFL"], r["PPROTFL"], r["TRT01A"]) for r in frame.to_dicts()}
    assert got == {
        "A": ("Y", "N", "N", "N", None),
        "B": ("Y", "Y", "Y", "Y", "CYT107"),
        "C": ("Y", "Y", "Y", "N", "CYT107"),
        "D": ("Y", "Y", "Y", "Y", "CYT107"),  # safety as treated: the kit given, not the arm randomized
    }


def test_duplicate_participant_is_refused() -> None:
    with pytest.raises(InputError, match="unique"):
        derive_populations(adsl({"USUBJID": "A"}, {"USUBJID": "A"}))


def test_missing_column_is_named() -> None:
    with pytest.raises(InputError, match="ADSL: missing column NDOSES"):
        derive_populations(adsl({"USUBJID": "A"}).drop("NDOSES"))


def test_wrong_type_is_named() -> None:
    with pytest.raises(InputError, match=r"ADSL.AGE"):
        check(adsl({"USUBJID": "A"}).with_columns(pl.col("AGE").cast(pl.String)), ADSL_SOURCE)


def test_death_flag_on_the_horizon_day_counts_and_after_does_not() -> None:
    frame = derive_dthfl(
        adsl({"USUBJID": "A", "DTHDY": 45}, {"USUBJID": "B", "DTHDY": 46}, {"USUBJID": "C"}), horizon_day=HORIZON
    )
    assert frame["DTHFL"].to_list() == ["Y", "N", "N"]


# --- baseline and the primary record


def test_baseline_is_the_last_record_on_or_before_day_0() -> None:
    frame = derive_base(lab([("A", -2, 400.0), ("A", 0, 450.0), ("A", 3, 600.0), ("B", 3, 700.0)]))
    a = frame.filter(pl.col("USUBJID") == "A")
    assert a["ABLFL"].to_list() == ["N", "Y", "N"]
    assert a["BASE"].to_list() == [450.0] * 3
    assert frame.filter(pl.col("USUBJID") == "B")["BASE"].to_list() == [None]


def _anl(subjects: pl.DataFrame, records: list[tuple[str, int, float]]) -> dict[str, int]:
    return flagged(derive_anl01fl(derive_base(lab(records)), subjects, endpoint_day=30, endpoint_window=2))


def test_primary_record_is_day_30_when_still_in_hospital() -> None:
    assert _anl(adsl({"USUBJID": "A"}), [("A", 0, 500), ("A", 21, 700), ("A", 30, 800)]) == {"A": 30}


def test_discharge_before_day_30_picks_the_discharge_day_record() -> None:
    records = [("A", 0, 500), ("A", 7, 600), ("A", 10, 650), ("A", 12, 700)]
    assert _anl(adsl({"USUBJID": "A", "DSCHDY": 12}), records) == {"A": 12}


def test_discharge_on_day_30_and_after_day_30_both_read_day_30() -> None:
    records = [("A", 0, 500), ("A", 30, 800), ("B", 0, 500), ("B", 30, 900), ("B", 33, 950)]
    assert _anl(adsl({"USUBJID": "A", "DSCHDY": 30}, {"USUBJID": "B", "DSCHDY": 40}), records) == {"A": 30, "B": 30}


def test_window_edges_two_days_in_three_days_out() -> None:
    records = [("A", 0, 500), ("A", 28, 800), ("B", 0, 500), ("B", 27, 800)]
    assert _anl(adsl({"USUBJID": "A"}, {"USUBJID": "B"}), records) == {"A": 28}


def test_tie_in_the_window_takes_the_earlier_record() -> None:
    assert _anl(adsl({"USUBJID": "A"}), [("A", 0, 500), ("A", 29, 700), ("A", 31, 900)]) == {"A": 29}


def test_death_before_day_30_takes_the_last_record_before_death() -> None:
    records = [("A", 0, 500), ("A", 7, 600), ("A", 10, 620), ("A", 14, 640)]
    assert _anl(adsl({"USUBJID": "A", "DTHDY": 14}), records) == {"A": 10}


def test_death_on_day_3_before_any_post_baseline_record_leaves_no_primary_value() -> None:
    assert _anl(adsl({"USUBJID": "A", "DTHDY": 3}), [("A", 0, 500), ("A", 3, 600)]) == {}


def test_death_after_the_endpoint_does_not_change_the_primary_record() -> None:
    records = [("A", 0, 500), ("A", 30, 800)]
    assert _anl(adsl({"USUBJID": "A", "DTHDY": 40}), records) == {"A": 30}


def test_only_the_named_parameter_is_flagged() -> None:
    frame = derive_anl01fl(
        derive_base(pl.concat([lab([("A", 0, 500), ("A", 30, 700)]), lab([("A", 0, 100), ("A", 30, 200)], "CD4")])),
        adsl({"USUBJID": "A"}),
        endpoint_day=30,
        endpoint_window=2,
    )
    assert frame.filter(pl.col("ANL01FL") == "Y")["PARAMCD"].to_list() == ["LYM"]


# --- organ-support-free days (clinical-rules 2.5)


def test_osfd_death_by_day_45_scores_minus_one() -> None:
    frame = derive_osfd(
        adsl({"USUBJID": "A", "DTHDY": 45}, {"USUBJID": "B", "DTHDY": 46}), support(), window_days=HORIZON
    )
    assert frame["OSFD45"].to_list() == [-1, 46]


def test_osfd_never_supported_counts_every_day_0_to_45() -> None:
    assert derive_osfd(adsl({"USUBJID": "A", "DSCHDY": 10}), support(), window_days=HORIZON)["OSFD45"].to_list() == [46]


def test_osfd_support_days_are_not_free_and_overlaps_count_once() -> None:
    episodes = support(
        ("A", "RESPIRATORY", 0, 5),  # days 0-4
        ("A", "CARDIOVASCULAR", 3, 8),  # days 3-7, overlapping
        ("A", "RENAL", 10, 20),  # renal replacement does not count
    )
    assert derive_osfd(adsl({"USUBJID": "A", "DSCHDY": 25}), episodes, window_days=HORIZON)["OSFD45"].to_list() == [
        46 - 8
    ]


def test_osfd_ongoing_support_runs_to_the_end_of_the_window() -> None:
    episodes = support(("A", "RESPIRATORY", 40, None), ("A", "RESPIRATORY", 50, 60))
    assert derive_osfd(adsl({"USUBJID": "A"}), episodes, window_days=HORIZON)["OSFD45"].to_list() == [40]


def test_osfd_days_after_discharge_alive_are_free() -> None:
    episodes = support(("A", "RESPIRATORY", 0, 10))
    assert derive_osfd(adsl({"USUBJID": "A", "DSCHDY": 12}), episodes, window_days=HORIZON)["OSFD45"].to_list() == [36]


# --- time to event


def test_death_on_day_45_is_an_event_and_alive_is_censored_at_45() -> None:
    frame = derive_tte_death(
        adsl(
            {"USUBJID": "A", "DTHDY": 45},
            {"USUBJID": "B"},
            {"USUBJID": "C", "LSTALVDY": 20},
            {"USUBJID": "D", "DTHDY": 50},
        ),
        horizon_day=HORIZON,
    )
    assert frame.select("AVAL", "CNSR").rows() == [(45.0, 0), (45.0, 1), (20.0, 1), (45.0, 1)]


def test_hospital_los_discharge_event_death_competing_still_in_censored() -> None:
    frame = derive_hospital_los(
        adsl({"USUBJID": "A", "DSCHDY": 12}, {"USUBJID": "B", "DTHDY": 9}, {"USUBJID": "C"}), horizon_day=HORIZON
    )
    assert frame.select("AVAL", "EVENTCD", "CNSR").rows() == [(12.0, 1, 0), (9.0, 2, 1), (45.0, 0, 1)]


def test_icu_los_counts_index_icu_days_and_death_competes() -> None:
    ho = stays(
        ("A", "ICU", 0, 5), ("A", "ICU", 8, 10), ("A", "ICU", 30, 33), ("B", "ICU", 2, 9), ("C", "ICU", 40, None)
    )
    frame = derive_icu_los(
        adsl(
            {"USUBJID": "A", "DSCHDY": 20},
            {"USUBJID": "B", "DTHDY": 9},
            {"USUBJID": "C"},
            {"USUBJID": "D", "DSCHDY": 6},
        ),
        ho,
        horizon_day=HORIZON,
    )
    # A: 5 + 2 days before discharge (the ICU stay after readmission is not index); B died; C still in ICU; D never
    assert frame.select("AVAL", "EVENTCD").rows() == [(7.0, 1), (7.0, 2), (6.0, 0), (0.0, 1)]


def test_who_endpoint_reads_discharge_day_or_day_30_and_death_scores_10() -> None:
    scores = who([("A", 12, 3), ("A", 30, 1), ("B", 30, 5), ("C", 5, 9), ("D", 29, 6)])
    frame = derive_who_endpoint(
        adsl({"USUBJID": "A", "DSCHDY": 12}, {"USUBJID": "B"}, {"USUBJID": "C", "DTHDY": 6}, {"USUBJID": "D"}),
        scores,
        endpoint_day=30,
    )
    assert frame["WHOD30"].to_list() == [3, 5, 10, None]


def test_two_point_improvement_event_death_and_censoring() -> None:
    scores = who(
        [("A", 1, 5), ("A", 4, 4), ("A", 9, 3), ("B", 1, 6), ("B", 2, 10), ("C", 1, 5), ("C", 30, 4), ("C", 31, 2)]
    )
    frame = derive_tte_who_improvement(
        adsl({"USUBJID": "A", "WHOBL": 5}, {"USUBJID": "B", "WHOBL": 6, "DTHDY": 2}, {"USUBJID": "C", "WHOBL": 5}),
        scores,
        endpoint_day=30,
    )
    assert frame.select("AVAL", "EVENTCD").rows() == [(9.0, 1), (2.0, 2), (30.0, 0)]


def test_secondary_infection_first_event_and_death_competing() -> None:
    adae = pl.DataFrame(
        {
            "USUBJID": ["A", "A", "B", "C"],
            "AEDECOD": ["secondary_infection", "secondary_infection", "fever", "secondary_infection"],
            "AETOXGR": [3, 3, 1, 3],
            "ASTDY": [9, 4, 2, 46],
            "AESER": ["Y", "Y", "N", "Y"],
        }
    )
    frame = derive_tte_infection(
        adsl({"USUBJID": "A"}, {"USUBJID": "B", "DTHDY": 20, "LSTALVDY": 20}, {"USUBJID": "C"}),
        adae,
        horizon_day=HORIZON,
    )
    assert frame.select("AVAL", "EVENTCD").rows() == [(4.0, 1), (20.0, 2), (45.0, 0)]


def test_readmissions_count_stays_after_the_first_and_exposure_after_discharge() -> None:
    ho = stays(
        ("A", "HOSPITAL", 0, 12),
        ("A", "HOSPITAL", 20, 25),
        ("A", "ICU", 0, 4),
        ("A", "ICU", 6, 8),
        ("B", "HOSPITAL", 0, 10),
        ("B", "HOSPITAL", 46, None),
        ("C", "HOSPITAL", 0, 15),
    )
    frame = derive_readmissions(
        adsl(
            {"USUBJID": "A", "DSCHDY": 12},
            {"USUBJID": "B", "DSCHDY": 10},
            {"USUBJID": "C", "DTHDY": 15, "LSTALVDY": 15},
        ),
        ho,
        horizon_day=HORIZON,
    )
    assert frame.select("ICUREADM", "REHOSP", "ICUEXPDY", "REHEXPDY").rows() == [
        (1, 1, 45, 33),
        (0, 0, 45, 35),
        (0, 0, 15, 0),
    ]


# ------------------------------------------------------------------ follow-up short of the horizon (issue 17)


def test_osfd_is_unknown_until_the_window_is_over_at_the_data_cut() -> None:
    """Randomized today (follow-up day 0) or at day 20: no OSFD45 yet, never 46 free days not yet lived."""
    frame = derive_osfd(
        adsl(
            {"USUBJID": "A", "LSTALVDY": 0},
            {"USUBJID": "B", "LSTALVDY": 20},
            {"USUBJID": "C", "LSTALVDY": 45},
            {"USUBJID": "D", "LSTALVDY": 3, "DTHDY": 3},
        ),
        support(),
        window_days=HORIZON,
    )
    assert frame["OSFD45"].to_list() == [None, None, 46, -1]


def test_stays_are_censored_at_the_data_cut_not_at_the_horizon() -> None:
    """Still in hospital (and in the ICU) at day 20 of follow-up: censored at day 20, 21 ICU days at most."""
    subjects = adsl({"USUBJID": "A", "LSTALVDY": 20})
    hospital = derive_hospital_los(subjects, horizon_day=HORIZON)
    assert hospital.select("AVAL", "EVENTCD", "CNSR").rows() == [(20.0, 0, 1)]
    icu = derive_icu_los(subjects, stays(("A", "ICU", 0, None)), horizon_day=HORIZON)
    assert icu.select("AVAL", "EVENTCD").rows() == [(21.0, 0)]


def test_survival_is_not_claimed_beyond_the_longest_follow_up() -> None:
    from iliad7.analysis import fit

    with pytest.raises(fit.NotEstimable, match="follow-up reaches day 20"):
        fit.km_at(np.array([5.0, 20.0, 20.0]), np.array([1.0, 0.0, 0.0]), 45)
    # everyone died before the horizon: survival at day 45 is known (zero)
    assert fit.km_at(np.array([5.0, 9.0]), np.array([1.0, 1.0]), 45).survival == 0.0
    # followed to the horizon: estimable as before
    assert fit.km_at(np.array([5.0, 45.0]), np.array([1.0, 0.0]), 45).survival == pytest.approx(0.5)


def test_osfd_last_contact_in_the_d45_visit_window_closes_the_window() -> None:
    frame = derive_osfd(
        adsl({"USUBJID": "A", "LSTALVDY": 42}, {"USUBJID": "B", "LSTALVDY": 41}),
        support(),
        window_days=HORIZON,
        grace_days=protocol_days().horizon_window,
    )
    assert protocol_days().horizon_window == 3
    assert frame["OSFD45"].to_list() == [46, None]
