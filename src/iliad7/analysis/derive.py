"""The ``derive_*`` functions that build the analysis variables of the SAP (docs/sap.md section 3).

Each takes polars frames, checks the columns it reads (:func:`iliad7.analysis.datasets.check`),
and returns a frame with the documented new variables; none reads a clock, a database or a random
generator, so the same inputs always give the same rows in the same order (sorted by
``USUBJID``). The protocol's days (day-30 endpoint visit and its window, the day-45 horizon) are
arguments, read from the protocol by :func:`protocol_days`.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import polars as pl

from iliad7.analysis.datasets import ADAE, ADCS, ADHO, ADLB, ADSL, ADSL_SOURCE, ADSUPP, check
from iliad7.errors import InputError

DEATH_WHO = 10
RESPIRATORY_OR_CARDIOVASCULAR = ("RESPIRATORY", "CARDIOVASCULAR")  # clinical-rules 2.5: RRT does not count


@dataclass(frozen=True)
class ProtocolDays:
    """The protocol's time points the derivations use (SAP 2.3)."""

    endpoint_day: int  # "day 30 or discharge"
    endpoint_window: int  # +/- days of the D30 visit
    horizon_day: int  # day 45: mortality, OSFD, safety, readmissions
    horizon_window: int = 0  # days before day 45 the D45 contact may fall (its visit window)


@lru_cache(maxsize=1)
def protocol_days() -> ProtocolDays:
    """The D30 visit's target day and window and the OSFD window, from the protocol file."""
    from iliad7.protocol import load_protocol

    protocol = load_protocol()
    visits = {visit.id: visit for visit in protocol.schedule.visits}
    d30 = visits["D30"]
    return ProtocolDays(
        endpoint_day=d30.target_day,
        endpoint_window=max(d30.window_days.before, d30.window_days.after),
        horizon_day=protocol.parameters.osfd_window_days,
        horizon_window=visits["D45"].window_days.before if "D45" in visits else 0,
    )


def _flag(condition: pl.Expr) -> pl.Expr:
    return pl.when(condition).then(pl.lit("Y")).otherwise(pl.lit("N"))


def _unique_subjects(adsl: pl.DataFrame) -> pl.DataFrame:
    if adsl.height != adsl["USUBJID"].n_unique():
        raise InputError("ADSL.USUBJID", "must be unique (one row per participant)")
    return adsl.sort("USUBJID")


def derive_populations(adsl: pl.DataFrame) -> pl.DataFrame:
    """Add TRT01A, ITTFL, MITTFL, SAFFL and PPROTFL (SAP 2.2).

    ITT: every randomized participant (every ADSL row), analysed as randomized (TRT01P). MITT:
    randomized and given at least one dose (NDOSES >= 1), as randomized. Safety: at least one
    dose, analysed as treated (TRT01A = ACTARM, the arm of the kits given). Per protocol: MITT
    without a major protocol deviation (DVMAJFL not Y).
    """
    check(adsl, ADSL_SOURCE, columns=("USUBJID", "TRT01P", "ACTARM", "NDOSES", "DVMAJFL"))
    dosed = pl.col("NDOSES") >= 1
    return _unique_subjects(adsl).with_columns(
        TRT01A=pl.when(dosed).then(pl.col("ACTARM")).otherwise(pl.lit(None, dtype=pl.String)),
        ITTFL=pl.lit("Y"),
        MITTFL=_flag(dosed),
        SAFFL=_flag(dosed),
        PPROTFL=_flag(dosed & (pl.col("DVMAJFL").fill_null("N") != "Y")),
    )


def derive_dthfl(adsl: pl.DataFrame, *, horizon_day: int) -> pl.DataFrame:
    """Add DTHFL: Y when the participant died on or before the horizon day (SAP 3.1)."""
    check(adsl, ADSL_SOURCE, columns=("USUBJID", "DTHDY"))
    return _unique_subjects(adsl).with_columns(
        DTHFL=_flag(pl.col("DTHDY").is_not_null() & (pl.col("DTHDY") <= horizon_day))
    )


def derive_base(adlb: pl.DataFrame) -> pl.DataFrame:
    """Add ABLFL and BASE to ADLB (SAP 3.2).

    The baseline record of a participant and parameter is the last one on or before study day 0
    (ABLFL = Y); BASE is its AVAL on every record of that participant and parameter (null when
    there is no baseline record).
    """
    check(adlb, ADLB, columns=("USUBJID", "PARAMCD", "AVAL", "ADY"))
    keys = ["USUBJID", "PARAMCD"]
    ordered = adlb.drop([c for c in ("ABLFL", "BASE") if c in adlb.columns]).sort([*keys, "ADY"])
    base_day = ordered.filter(pl.col("ADY") <= 0).group_by(keys).agg(pl.col("ADY").max().alias("_BDY"))
    with_day = ordered.join(base_day, on=keys, how="left")
    baseline = with_day.filter(pl.col("ADY") == pl.col("_BDY")).group_by(keys).agg(pl.col("AVAL").last().alias("BASE"))
    return (
        with_day.join(baseline, on=keys, how="left")
        .with_columns(ABLFL=_flag(pl.col("ADY") == pl.col("_BDY")))
        .drop("_BDY")
        .sort([*keys, "ADY"])
    )


def derive_anl01fl(
    adlb: pl.DataFrame,
    adsl: pl.DataFrame,
    *,
    paramcd: str = "LYM",
    endpoint_day: int,
    endpoint_window: int,
) -> pl.DataFrame:
    """Flag with ANL01FL = Y the one record per participant the primary analysis reads (SAP 3.2.1).

    The endpoint day E is day 30 or the discharge day (DSCHDY), whichever comes first. A
    participant alive on day E contributes the post-baseline record closest to E within the D30
    window (E +/- `endpoint_window`, not after death; the earlier on a tie). A participant who
    dies on or before E contributes the last post-baseline record before the day of death (a
    "while alive" value). Nobody else has a flagged record (missing primary value). Records of
    other parameters get ANL01FL = N.
    """
    check(adlb, ADLB, columns=("USUBJID", "PARAMCD", "AVAL", "ADY"))
    check(adsl, ADSL_SOURCE, columns=("USUBJID", "DTHDY", "DSCHDY"))
    days = _unique_subjects(adsl).select(
        "USUBJID",
        "DTHDY",
        _E=pl.min_horizontal(pl.col("DSCHDY").fill_null(endpoint_day), pl.lit(endpoint_day)),
    )
    candidates = (
        adlb.with_row_index("_ROW")
        .filter((pl.col("PARAMCD") == paramcd) & (pl.col("ADY") > 0) & pl.col("AVAL").is_not_null())
        .join(days, on="USUBJID", how="inner")
        .with_columns(_DIED_FIRST=pl.col("DTHDY").is_not_null() & (pl.col("DTHDY") <= pl.col("_E")))
        .filter(pl.col("DTHDY").is_null() | (pl.col("ADY") < pl.col("DTHDY")))
    )
    alive = (
        candidates.filter(~pl.col("_DIED_FIRST") & ((pl.col("ADY") - pl.col("_E")).abs() <= endpoint_window))
        .sort(["USUBJID", (pl.col("ADY") - pl.col("_E")).abs(), "ADY"])
        .group_by("USUBJID", maintain_order=True)
        .first()
    )
    died = (
        candidates.filter(pl.col("_DIED_FIRST"))
        .sort(["USUBJID", "ADY"])
        .group_by("USUBJID", maintain_order=True)
        .last()
    )
    chosen = pl.concat([alive.select("_ROW"), died.select("_ROW")])["_ROW"]
    return adlb.with_row_index("_ROW").with_columns(ANL01FL=_flag(pl.col("_ROW").is_in(chosen.implode()))).drop("_ROW")


def derive_osfd(adsl: pl.DataFrame, adsupp: pl.DataFrame, *, window_days: int, grace_days: int = 0) -> pl.DataFrame:
    """Add OSFD45, organ-support-free days from day 0 through the window (SAP 3.4, clinical-rules 2.5).

    The days 0..`window_days` on which the participant is alive and on neither respiratory
    support (high-flow oxygen, NIV, invasive ventilation, ECMO: SUPPCAT RESPIRATORY) nor
    cardiovascular support (vasopressors, inotropes: CARDIOVASCULAR); renal replacement does not
    count. Days after discharge alive count as free. A participant who dies on or before
    `window_days` scores -1. An episode runs from STARTDY to the day before ENDDY (ENDDY null:
    still going at the end of the window).

    A participant alive whose follow-up (LSTALVDY) has not reached `window_days` at the data cut
    has no OSFD45 yet (null): the days not yet lived are not counted as free. `grace_days` (the
    D45 visit's window before day 45) lets a last contact that early close the window.
    """
    check(adsl, ADSL_SOURCE, columns=("USUBJID", "DTHDY", "LSTALVDY"))
    check(adsupp, ADSUPP)
    subjects = _unique_subjects(adsl)
    episodes = adsupp.filter(pl.col("SUPPCAT").is_in(list(RESPIRATORY_OR_CARDIOVASCULAR))).select(
        "USUBJID",
        _S=pl.col("STARTDY").clip(0, window_days + 1),
        _E=pl.col("ENDDY").fill_null(window_days + 1).clip(0, window_days + 1),
    )
    supported = (
        episodes.filter(pl.col("_E") > pl.col("_S"))
        .with_columns(_D=pl.int_ranges(pl.col("_S"), pl.col("_E")))
        .explode("_D")
        .group_by("USUBJID")
        .agg(_SUPPORTED=pl.col("_D").n_unique())
    )
    return (
        subjects.join(supported, on="USUBJID", how="left")
        .with_columns(
            OSFD45=pl.when(pl.col("DTHDY").is_not_null() & (pl.col("DTHDY") <= window_days))
            .then(pl.lit(-1, dtype=pl.Int64))
            .when(pl.col("LSTALVDY").fill_null(-1) >= window_days - grace_days)
            .then(window_days + 1 - pl.col("_SUPPORTED").fill_null(0).cast(pl.Int64))
            .otherwise(pl.lit(None, dtype=pl.Int64))
        )
        .drop("_SUPPORTED")
    )


def _tte(subjects: pl.DataFrame, paramcd: str) -> pl.DataFrame:
    return subjects.select(
        "USUBJID",
        PARAMCD=pl.lit(paramcd),
        AVAL=pl.col("AVAL").cast(pl.Float64),
        CNSR=(pl.col("EVENTCD") != 1).cast(pl.Int64),
        EVENTCD=pl.col("EVENTCD").cast(pl.Int64),
    )


def derive_tte_death(adsl: pl.DataFrame, *, horizon_day: int) -> pl.DataFrame:
    """ADTTE rows TTDTH45: days from dose 1 (day 0) to death, censored at the horizon or last contact (SAP 3.5.1).

    A death on or before the horizon is an event (CNSR 0) at DTHDY; otherwise the participant is
    censored (CNSR 1) at the earlier of LSTALVDY and the horizon.
    """
    check(adsl, ADSL_SOURCE, columns=("USUBJID", "DTHDY", "LSTALVDY"))
    died = pl.col("DTHDY").is_not_null() & (pl.col("DTHDY") <= horizon_day)
    return _tte(
        _unique_subjects(adsl).with_columns(
            AVAL=pl.when(died).then(pl.col("DTHDY")).otherwise(pl.min_horizontal("LSTALVDY", pl.lit(horizon_day))),
            EVENTCD=pl.when(died).then(1).otherwise(0),
        ),
        "TTDTH45",
    )


def derive_hospital_los(adsl: pl.DataFrame, *, horizon_day: int) -> pl.DataFrame:
    """ADTTE rows HOSPLOS: days from dose 1 to discharge alive from the index hospitalization (SAP 3.5.2).

    Discharge alive (DSCHDY) is the event (EVENTCD 1); death in hospital first is the competing
    event (EVENTCD 2) at DTHDY; still in hospital is censored (EVENTCD 0) at the earlier of the
    horizon and the end of follow-up (LSTALVDY: the data cut of one randomized lately).
    """
    check(adsl, ADSL_SOURCE, columns=("USUBJID", "DTHDY", "DSCHDY", "LSTALVDY"))
    discharged = pl.col("DSCHDY").is_not_null() & (pl.col("DSCHDY") <= horizon_day)
    died = pl.col("DTHDY").is_not_null() & (pl.col("DTHDY") <= horizon_day)
    return _tte(
        _unique_subjects(adsl).with_columns(
            AVAL=pl.when(discharged)
            .then(pl.col("DSCHDY"))
            .when(died)
            .then(pl.col("DTHDY"))
            .otherwise(pl.min_horizontal(pl.col("LSTALVDY").fill_null(horizon_day), pl.lit(horizon_day))),
            EVENTCD=pl.when(discharged).then(1).when(died).then(2).otherwise(0),
        ),
        "HOSPLOS",
    )


def derive_icu_los(adsl: pl.DataFrame, adho: pl.DataFrame, *, horizon_day: int) -> pl.DataFrame:
    """ADTTE rows ICULOS: ICU days during the index hospitalization through the horizon (SAP 3.5.3).

    AVAL is the number of days inside ICU stays (HOCAT ICU) that start before the index discharge
    (or the horizon); EVENTCD is 2 for a participant who died by the horizon (death competes:
    ranked worst in the Wilcoxon test), 1 for one alive and out of the ICU, 0 for one still in
    the ICU at the horizon or at the end of follow-up (LSTALVDY), whose days are counted only
    through that day.
    """
    check(adsl, ADSL_SOURCE, columns=("USUBJID", "DTHDY", "DSCHDY", "LSTALVDY"))
    check(adho, ADHO)
    # The day after the last one counted: the index discharge, else (alive) the end of follow-up.
    followed = (
        pl.when(pl.col("DTHDY").is_null())
        .then(pl.min_horizontal(pl.col("LSTALVDY").fill_null(horizon_day), pl.lit(horizon_day)) + 1)
        .otherwise(pl.lit(horizon_day + 1))
    )
    subjects = _unique_subjects(adsl).with_columns(_END=pl.col("DSCHDY").fill_null(followed))
    stays = (
        adho.filter(pl.col("HOCAT") == "ICU")
        .join(subjects.select("USUBJID", "_END"), on="USUBJID", how="inner")
        .filter(pl.col("STARTDY") < pl.col("_END"))
        .with_columns(_STOP=pl.min_horizontal(pl.col("ENDDY").fill_null(horizon_day + 1), pl.col("_END")))
    )
    days = stays.group_by("USUBJID").agg(
        _DAYS=(pl.col("_STOP") - pl.col("STARTDY")).clip(0).sum(),
        _OPEN=pl.col("ENDDY").is_null().any(),
    )
    died = pl.col("DTHDY").is_not_null() & (pl.col("DTHDY") <= horizon_day)
    return _tte(
        subjects.join(days, on="USUBJID", how="left").with_columns(
            AVAL=pl.col("_DAYS").fill_null(0),
            EVENTCD=pl.when(died).then(2).when(pl.col("_OPEN").fill_null(False)).then(0).otherwise(1),
        ),
        "ICULOS",
    )


def derive_who_endpoint(adsl: pl.DataFrame, adcs: pl.DataFrame, *, endpoint_day: int) -> pl.DataFrame:
    """Add WHOD30, the WHO scale at day 30 or discharge, whichever comes first (SAP 3.3).

    The score recorded on day E = min(30, DSCHDY); a participant who died on or before E scores
    10. Null when no score was recorded on E.
    """
    check(adsl, ADSL_SOURCE, columns=("USUBJID", "DTHDY", "DSCHDY"))
    check(adcs, ADCS)
    subjects = _unique_subjects(adsl).with_columns(
        _E=pl.min_horizontal(pl.col("DSCHDY").fill_null(endpoint_day), pl.lit(endpoint_day))
    )
    scores = adcs.filter(pl.col("PARAMCD") == "WHO").select("USUBJID", _E=pl.col("ADY"), _WHO=pl.col("AVAL"))
    scores = scores.group_by(["USUBJID", "_E"]).agg(pl.col("_WHO").max())
    died = pl.col("DTHDY").is_not_null() & (pl.col("DTHDY") <= pl.col("_E"))
    return (
        subjects.join(scores, on=["USUBJID", "_E"], how="left")
        .with_columns(WHOD30=pl.when(died).then(pl.lit(DEATH_WHO, dtype=pl.Int64)).otherwise(pl.col("_WHO")))
        .drop("_E", "_WHO")
    )


def derive_tte_who_improvement(
    adsl: pl.DataFrame, adcs: pl.DataFrame, *, endpoint_day: int, points: int = 2
) -> pl.DataFrame:
    """ADTTE rows TTWHOIMP2: days to the first WHO score at least `points` below baseline, through day 30 (SAP 3.5.4).

    Baseline is WHOBL. The event (EVENTCD 1) is the first study day > 0 with a score <= WHOBL -
    `points`; death first is the competing event (EVENTCD 2); otherwise censored (EVENTCD 0) at
    the last scored day through day 30.
    """
    check(adsl, ADSL_SOURCE, columns=("USUBJID", "WHOBL", "DTHDY"))
    check(adcs, ADCS)
    subjects = _unique_subjects(adsl)
    scored = adcs.filter((pl.col("PARAMCD") == "WHO") & (pl.col("ADY") > 0) & (pl.col("ADY") <= endpoint_day))
    scored = scored.join(subjects.select("USUBJID", "WHOBL"), on="USUBJID", how="inner")
    first = (
        scored.filter((pl.col("AVAL") <= pl.col("WHOBL") - points) & (pl.col("AVAL") < DEATH_WHO))
        .group_by("USUBJID")
        .agg(_IMP=pl.col("ADY").min())
    )
    last = scored.filter(pl.col("AVAL") < DEATH_WHO).group_by("USUBJID").agg(_LAST=pl.col("ADY").max())
    died = pl.col("DTHDY").is_not_null() & (pl.col("DTHDY") <= endpoint_day)
    improved = pl.col("_IMP").is_not_null() & (pl.col("DTHDY").is_null() | (pl.col("_IMP") < pl.col("DTHDY")))
    return _tte(
        subjects.join(first, on="USUBJID", how="left")
        .join(last, on="USUBJID", how="left")
        .with_columns(
            AVAL=pl.when(improved)
            .then(pl.col("_IMP"))
            .when(died)
            .then(pl.col("DTHDY"))
            .otherwise(pl.col("_LAST").fill_null(0)),
            EVENTCD=pl.when(improved).then(1).when(died).then(2).otherwise(0),
        ),
        "TTWHOIMP2",
    )


def derive_tte_infection(adsl: pl.DataFrame, adae: pl.DataFrame, *, horizon_day: int) -> pl.DataFrame:
    """ADTTE rows TTSECINF: days to the first adjudicated secondary infection through the horizon (SAP 3.5.5).

    Secondary infections are ADAE records with AEDECOD ``secondary_infection``. Death first is the
    competing event (EVENTCD 2); otherwise censored at the earlier of LSTALVDY and the horizon.
    """
    check(adsl, ADSL_SOURCE, columns=("USUBJID", "DTHDY", "LSTALVDY"))
    check(adae, ADAE)
    first = (
        adae.filter((pl.col("AEDECOD") == "secondary_infection") & (pl.col("ASTDY") <= horizon_day))
        .group_by("USUBJID")
        .agg(_INF=pl.col("ASTDY").min())
    )
    died = pl.col("DTHDY").is_not_null() & (pl.col("DTHDY") <= horizon_day)
    infected = pl.col("_INF").is_not_null() & (pl.col("DTHDY").is_null() | (pl.col("_INF") <= pl.col("DTHDY")))
    return _tte(
        _unique_subjects(adsl)
        .join(first, on="USUBJID", how="left")
        .with_columns(
            AVAL=pl.when(infected)
            .then(pl.col("_INF"))
            .when(died)
            .then(pl.col("DTHDY"))
            .otherwise(pl.min_horizontal("LSTALVDY", pl.lit(horizon_day))),
            EVENTCD=pl.when(infected).then(1).when(died).then(2).otherwise(0),
        ),
        "TTSECINF",
    )


def derive_readmissions(adsl: pl.DataFrame, adho: pl.DataFrame, *, horizon_day: int) -> pl.DataFrame:
    """Add ICUREADM, REHOSP and their exposure days ICUEXPDY, REHEXPDY (SAP 3.6).

    ICUREADM counts ICU stays after the first one that start by the horizon; its exposure is the
    days alive from day 0 to the horizon. REHOSP counts hospital stays after the index one that
    start by the horizon; its exposure is the days alive from the index discharge to the horizon
    (0 for a participant never discharged).
    """
    check(adsl, ADSL_SOURCE, columns=("USUBJID", "DTHDY", "DSCHDY", "LSTALVDY"))
    check(adho, ADHO)
    subjects = _unique_subjects(adsl)
    within = adho.filter(pl.col("STARTDY") <= horizon_day)
    counts = within.group_by(["USUBJID", "HOCAT"]).agg(_N=pl.len()).pivot(on="HOCAT", index="USUBJID", values="_N")
    for name in ("ICU", "HOSPITAL"):
        if name not in counts.columns:
            counts = counts.with_columns(pl.lit(None, dtype=pl.UInt32).alias(name))
    end = pl.min_horizontal(pl.col("DTHDY").fill_null(horizon_day), pl.col("LSTALVDY"), pl.lit(horizon_day))
    return (
        subjects.join(counts.select("USUBJID", "ICU", "HOSPITAL"), on="USUBJID", how="left")
        .with_columns(
            ICUREADM=(pl.col("ICU").fill_null(0).cast(pl.Int64) - 1).clip(0),
            REHOSP=(pl.col("HOSPITAL").fill_null(0).cast(pl.Int64) - 1).clip(0),
            ICUEXPDY=end.cast(pl.Int64),
            REHEXPDY=pl.when(pl.col("DSCHDY").is_not_null())
            .then((end - pl.col("DSCHDY")).clip(0))
            .otherwise(0)
            .cast(pl.Int64),
        )
        .drop("ICU", "HOSPITAL")
    )


def derive_adsl(
    adsl_source: pl.DataFrame, adsupp: pl.DataFrame, adho: pl.DataFrame, adcs: pl.DataFrame
) -> pl.DataFrame:
    """The full ADSL: populations, death flag, OSFD45, WHOD30 and readmission counts (SAP 3.1)."""
    check(adsl_source, ADSL_SOURCE)
    days = protocol_days()
    adsl = derive_populations(adsl_source)
    adsl = derive_dthfl(adsl, horizon_day=days.horizon_day)
    adsl = derive_osfd(adsl, adsupp, window_days=days.horizon_day, grace_days=days.horizon_window)
    adsl = derive_who_endpoint(adsl, adcs, endpoint_day=days.endpoint_day)
    adsl = derive_readmissions(adsl, adho, horizon_day=days.horizon_day)
    return check(adsl, ADSL)
