"""Build the analysis datasets from the simulator's output (until the trial database holds visit data).

The simulator (:mod:`iliad7.simulate`) gives each randomized participant's latent days 0-45. This
adapter observes them the way the schedule of activities does (docs/sap.md section 3.7): laboratory
values at the protocol's visits while in hospital plus the "day 30 or discharge" visit, NEWS2 at
the same visits, the WHO scale on every hospital day, on the D30 visit, on day 45 and on the day
of death, and the hospital, ICU and organ-support episodes as recorded. No clinical number is made
up here: every value is the simulator's.

:func:`simulated_trial` runs the simulator and returns the datasets with the CONSORT counts.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import date, datetime
from typing import TYPE_CHECKING, Any

import polars as pl

if TYPE_CHECKING:
    from iliad7.simulate.cohort import Cohort

from iliad7.analysis.consort import consort_counts
from iliad7.analysis.datasets import (
    ADAE,
    ADCS,
    ADHO,
    ADLB,
    ADSL_SOURCE,
    ADSUPP,
    AnalysisData,
    Schema,
    check,
)
from iliad7.analysis.derive import (
    derive_adsl,
    derive_anl01fl,
    derive_base,
    derive_hospital_los,
    derive_icu_los,
    derive_tte_death,
    derive_tte_infection,
    derive_tte_who_improvement,
    protocol_days,
)

# The protocol's assessments (schedule.assessments ids) and the ADLB parameters they give, with the
# simulator's series for each.
LAB_ASSESSMENTS: dict[str, tuple[tuple[str, str], ...]] = {
    "ALC": (("LYM", "alc"),),
    "CD4-CD8": (("CD4", "cd4"), ("CD8", "cd8")),
    "FERRITIN": (("FERRITIN", "ferritin"),),
    "CRP": (("CRP", "crp"),),
    "D-DIMER": (("DDIMER", "d_dimer"),),
    "VIRAL-LOAD": (("VLOAD", "viral_load_log10"),),
}
SUPPORT_CATEGORY = {
    "high_flow": "RESPIRATORY",
    "niv": "RESPIRATORY",
    "invasive_ventilation": "RESPIRATORY",
    "ecmo": "RESPIRATORY",
    "vasopressors": "CARDIOVASCULAR",
    "rrt": "RENAL",
}


@dataclass(frozen=True)
class SimulatedTrial:
    """The derived datasets of a simulated trial and its CONSORT counts."""

    data: AnalysisData
    consort: dict[str, Any]
    seed: int
    n: int


def _frame(rows: dict[str, list[Any]], schema: Schema, extra: dict[str, Any] | None = None) -> pl.DataFrame:
    types = dict(schema.columns)
    if extra:
        types.update(extra)
    return pl.DataFrame({name: rows[name] for name in types}, schema=types)


def _visit_days() -> tuple[dict[str, tuple[str, int, str]], dict[str, list[str]]]:
    """Visit id -> (id, target day, occurs) and assessment id -> its post-screening visits, from the protocol."""
    from iliad7.protocol import load_protocol

    protocol = load_protocol()
    visits = {v.id: (v.id, v.target_day, str(v.occurs)) for v in protocol.schedule.visits}
    assessments = {a.id: [v for v in a.visits if v != "SCREENING"] for a in protocol.schedule.assessments}
    return visits, assessments


def _age(record: dict[str, Any]) -> int:
    t0 = datetime.fromisoformat(record["baseline_time"]).date()
    born = date.fromisoformat(record["birth_date"])
    return t0.year - born.year - ((t0.month, t0.day) < (born.month, born.day))


def datasets_from_participants(items: list[tuple[str, dict[str, Any], Any]]) -> AnalysisData:
    """The analysis datasets of simulated participants, each given as (USUBJID, screening record, Participant)."""
    days = protocol_days()
    visits, assessments = _visit_days()
    visit_order = {vid: i for i, vid in enumerate(visits)}
    sl: dict[str, list[Any]] = {name: [] for name in ADSL_SOURCE.names}
    lb: dict[str, list[Any]] = {name: [] for name in (*ADLB.names, "AVISITN")}
    cs: dict[str, list[Any]] = {name: [] for name in ADCS.names}
    ae: dict[str, list[Any]] = {name: [] for name in ADAE.names}
    ho: dict[str, list[Any]] = {name: [] for name in ADHO.names}
    su: dict[str, list[Any]] = {name: [] for name in ADSUPP.names}
    horizon = days.horizon_day
    for usubjid, record, p in items:
        b = p.baseline
        death = p.death_day if p.death_day is not None and p.death_day <= horizon else None
        discharge = p.discharge_day
        endpoint = min(days.endpoint_day, discharge) if discharge is not None else days.endpoint_day
        alive_at_endpoint = death is None or death > endpoint
        sl["USUBJID"].append(usubjid)
        sl["SITEID"].append(b.site)
        sl["TRT01P"].append(b.arm)
        sl["ACTARM"].append(b.arm if p.doses else None)
        sl["AGE"].append(_age(record))
        sl["SEX"].append(str(record["sex"]).upper()[:1])
        sl["WEIGHTBL"].append(float(b.weight_kg))
        sl["SEVERITY"].append(b.severity)
        sl["WHOBL"].append(int(p.who[0]))
        sl["ALCBL"].append(float(b.alc0))
        sl["NDOSES"].append(len(p.doses))
        sl["DVMAJFL"].append("N")
        sl["DTHDY"].append(death)
        sl["LSTALVDY"].append(death if death is not None else horizon)
        sl["DSCHDY"].append(discharge)

        def lab(paramcd: str, visit: str, day: int, value: float, usubjid: str = usubjid) -> None:
            lb["USUBJID"].append(usubjid)
            lb["PARAMCD"].append(paramcd)
            lb["AVAL"].append(value)
            lb["ADY"].append(day)
            lb["AVISIT"].append(visit)
            lb["AVISITN"].append(visit_order[visit])

        for assessment, params in LAB_ASSESSMENTS.items():
            for visit in assessments.get(assessment, []):
                _, target, occurs = visits[visit]
                if occurs == "day-30-or-discharge":
                    if not alive_at_endpoint:
                        continue
                    day = endpoint
                elif occurs == "while-hospitalized":
                    if target >= endpoint or not bool(p.hospitalized[target]):
                        continue
                    day = target
                else:
                    day = target
                for paramcd, series in params:
                    value = float(getattr(p, series)[day])
                    if not math.isnan(value):
                        lab(paramcd, visit, day, value)
        # NEWS2 at the ALC visits while in hospital; the D30 visit reads the last hospital day's score.
        for visit in assessments.get("ALC", []):
            _, target, occurs = visits[visit]
            day = target
            if occurs == "day-30-or-discharge":
                if not alive_at_endpoint:
                    continue
                scored = [d for d in range(endpoint + 1) if p.news2[d] >= 0]
                if not scored:
                    continue
                day = scored[-1]
            elif occurs == "while-hospitalized" and target >= endpoint:
                continue
            if p.news2[day] >= 0:
                lab("NEWS2", visit, day, float(p.news2[day]))

        who_days = {d for d in range(horizon + 1) if bool(p.hospitalized[d])} | {0}
        if alive_at_endpoint:
            who_days.add(endpoint)
        if death is None:
            who_days.add(horizon)
        else:
            who_days = {d for d in who_days if d < death} | {death}
        for day in sorted(who_days):
            cs["USUBJID"].append(usubjid)
            cs["PARAMCD"].append("WHO")
            cs["AVAL"].append(int(p.who[day]))
            cs["ADY"].append(day)
        for event in p.adverse_events:
            ae["USUBJID"].append(usubjid)
            ae["AEDECOD"].append(event.term)
            ae["AETOXGR"].append(int(event.grade))
            ae["ASTDY"].append(int(event.day))
            ae["AESER"].append("Y" if event.serious else "N")
        for category, stays in (("HOSPITAL", p.hospital_stays), ("ICU", p.icu_stays)):
            for stay in stays:
                ho["USUBJID"].append(usubjid)
                ho["HOCAT"].append(category)
                ho["STARTDY"].append(int(stay.start_day))
                ho["ENDDY"].append(None if stay.stop_day is None else int(stay.stop_day))
        for episode in p.support:
            su["USUBJID"].append(usubjid)
            su["SUPPCAT"].append(SUPPORT_CATEGORY[episode.kind])
            su["STARTDY"].append(int(episode.start_day))
            su["ENDDY"].append(None if episode.stop_day is None else int(episode.stop_day))

    adsl_source = _frame(sl, ADSL_SOURCE).sort("USUBJID")
    adlb_raw = pl.DataFrame(
        {k: lb[k] for k in ("USUBJID", "PARAMCD", "AVAL", "ADY", "AVISIT", "AVISITN")},
        schema={
            "USUBJID": pl.String,
            "PARAMCD": pl.String,
            "AVAL": pl.Float64,
            "ADY": pl.Int64,
            "AVISIT": pl.String,
            "AVISITN": pl.Int64,
        },
    )
    adcs = _frame(cs, ADCS).sort(["USUBJID", "ADY"])
    adae = _frame(ae, ADAE).sort(["USUBJID", "ASTDY", "AEDECOD"])
    adho = _frame(ho, ADHO).sort(["USUBJID", "HOCAT", "STARTDY"])
    adsupp = _frame(su, ADSUPP).sort(["USUBJID", "SUPPCAT", "STARTDY"])
    adsl = derive_adsl(adsl_source, adsupp, adho, adcs)
    adlb = derive_base(adlb_raw)
    adlb = derive_anl01fl(
        adlb, adsl, paramcd="LYM", endpoint_day=days.endpoint_day, endpoint_window=days.endpoint_window
    ).select(list(ADLB.names))
    adtte = pl.concat(
        [
            derive_tte_death(adsl, horizon_day=horizon),
            derive_hospital_los(adsl, horizon_day=horizon),
            derive_icu_los(adsl, adho, horizon_day=horizon),
            derive_tte_who_improvement(adsl, adcs, endpoint_day=days.endpoint_day),
            derive_tte_infection(adsl, adae, horizon_day=horizon),
        ]
    ).sort(["PARAMCD", "USUBJID"])
    return AnalysisData(
        adsl=adsl,
        adlb=check(adlb, ADLB),
        adcs=adcs,
        adae=adae,
        adtte=adtte,
        adho=adho,
        adsupp=adsupp,
    )


def simulated_trial(n: int, seed: int, cohort: Cohort | None = None) -> SimulatedTrial:
    """Simulate a trial of `n` randomized participants (``iliad7.simulate.simulate_cohort``) and derive its datasets.

    `cohort`: an already simulated cohort to derive from (the one a database replay used).
    """
    from iliad7.simulate import load_parameters, simulate_cohort

    if cohort is None:
        cohort = simulate_cohort(load_parameters(), seed, n)
    items = []
    for order, item in enumerate(cohort.randomized, start=1):
        record = cohort.screened[item.screening_index].record
        items.append((f"{item.participant.baseline.site}-{order:05d}", record, item.participant))
    data = datasets_from_participants(items)
    screenings = ((p.screening.verdict, p.screening.failed, p.screening.unknown) for p in cohort.screened)
    return SimulatedTrial(data=data, consort=consort_counts(screenings, data), seed=seed, n=n)
