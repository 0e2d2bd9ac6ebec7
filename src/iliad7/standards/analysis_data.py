"""The SAP's analysis datasets (iliad7.analysis.AnalysisData) built from a snapshot of the trial database.

The path is the export's: a guarded snapshot (site scoping and blinding of the user applied), the
SDTM domains built from it, then the ADaM source frames the SAP derives from (docs/sap.md section 3):

- ADSL_SOURCE from the subject facts of the ADaM export (DM, EX, DS, HO), with the baseline
  weight, respiratory support (SEVERITY) and ALC of the screening record, and the baseline WHO
  scale of the last CLINICAL-STATUS on or before day 0;
- ADLB from LB (cell counts back in cells/mm3, the SAP's unit; other tests in LB's standard
  unit), the quantitative viral loads of MB (log10 copies/mL) and NEWS2 of RS;
- ADCS from RS (WHO Clinical Progression Scale); ADAE from AE plus one ``secondary_infection``
  record per SECONDARY-INFECTION form that the Secondary Infections Committee confirmed; ADHO
  from HO; ADSUPP from PR.

Everything after that is the same derivation as for a simulated trial
(:func:`iliad7.analysis.derive.derive_adsl` and friends), so the primary analysis record
(ANL01FL) of the report is the one of the ADaM export. A blinded user's snapshot holds no arm:
TRT01P and ACTARM are null and only pooled results can be reported from it.
"""

from __future__ import annotations

from typing import Any

import polars as pl

from iliad7.analysis.datasets import ADAE, ADCS, ADHO, ADLB, ADSL_SOURCE, ADSUPP, AnalysisData, check
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
from iliad7.standards.adam import _SUPPCAT, CELL_PARAMS, _protocol_day, _subject_facts, randomized_only
from iliad7.standards.dataset import Dataset
from iliad7.standards.snapshot import Snapshot

# SDTM standard units that the SAP reads in another unit: factor from LBSTRESU to the SAP's unit.
_CELLS_PER_MM3 = {"LYM": 1000.0, "CD4": 1000.0, "CD8": 1000.0}
_ANALYSED_LB = frozenset({"LYM", "CD4", "CD8", "FERRITIN", "CRP", "DDIMER"})
_PER_LITRE_10_9 = frozenset({"10^9/L", "x10^9/L", "10^3/uL"})
# Baseline respiratory support of the screening record -> SEVERITY (o2, hfno_niv, mv).
_SEVERITY = {
    "nasal_cannula": "o2",
    "mask": "o2",
    "high_flow": "hfno_niv",
    "niv": "hfno_niv",
    "mechanical_ventilation": "mv",
    "ecmo": "mv",
}
_HOCAT = {"HOSPITAL": "HOSPITAL", "INTENSIVE CARE UNIT": "ICU"}


def _rows(sdtm: dict[str, Dataset], name: str) -> list[dict[str, Any]]:
    return sdtm[name].frame.to_dicts() if name in sdtm else []


def _day(row: dict[str, Any], day_var: str) -> int | None:
    """Protocol study day (day 0 = dose 1) of a record, from --DY, else its visit's planned day."""
    if row.get(day_var) is not None:
        return _protocol_day(row[day_var])
    return _protocol_day(row.get("VISITDY"))


def _screening_alc(record: dict[str, Any]) -> float | None:
    """The last ALC of the screening record in cells/mm3 (the INC-ALC value)."""
    best: tuple[str, float] | None = None
    for measurement in record.get("alc") or []:
        value = measurement.get("value")
        if value is None:
            continue
        number = float(value) * (1000.0 if measurement.get("unit") in _PER_LITRE_10_9 else 1.0)
        moment = str(measurement.get("time") or "")
        if best is None or moment >= best[0]:
            best = (moment, number)
    return None if best is None else best[1]


def _adlb_source(sdtm: dict[str, Dataset]) -> pl.DataFrame:
    records: list[dict[str, Any]] = []
    cells = [
        {**r, "LBTESTCD": CELL_PARAMS[r["CPTESTCD"]], "LBSTRESN": r["CPSTRESN"], "LBDY": r["CPDY"], "LBSPID": "LAB-"}
        for r in _rows(sdtm, "CP")
    ]
    for r in _rows(sdtm, "LB") + cells:
        code = r["LBTESTCD"]
        # The LAB form's results (the screening record's counts are not the SAP's ADLB).
        if code not in _ANALYSED_LB or r["LBSTRESN"] is None or not str(r["LBSPID"]).startswith("LAB-"):
            continue
        day = _day(r, "LBDY")
        if day is None:
            continue
        value = float(r["LBSTRESN"]) * _CELLS_PER_MM3.get(code, 1.0)
        records.append(_lab(r, code, round(value, 6), day))
    for r in _rows(sdtm, "MB"):
        if r["MBTESTCD"] != "SCV2VLD" or r["MBSTRESN"] is None or (day := _day(r, "MBDY")) is None:
            continue
        records.append(_lab(r, "VLOAD", float(r["MBSTRESN"]), day))
    for r in _rows(sdtm, "RS"):
        if r["RSTESTCD"] != "NEWS2TOT" or r["RSSTRESN"] is None or (day := _day(r, "RSDY")) is None:
            continue
        if str(r["RSSPID"]).startswith("SCREENING"):
            continue  # the screening record's NEWS2 scores: eligibility, not the SAP's NEWS2 course
        records.append(_lab(r, "NEWS2", float(r["RSSTRESN"]), day))
    schema = {"USUBJID": pl.String, "PARAMCD": pl.String, "AVAL": pl.Float64, "ADY": pl.Int64}
    schema |= {"AVISIT": pl.String, "AVISITN": pl.Int64}
    return pl.DataFrame(records, schema=schema).sort("USUBJID", "PARAMCD", "ADY", "AVISITN", nulls_last=True)


def _lab(row: dict[str, Any], code: str, value: float, day: int) -> dict[str, Any]:
    visit = row.get("VISIT") or f"DAY {day}"
    return {
        "USUBJID": row["USUBJID"],
        "PARAMCD": code,
        "AVAL": value,
        "ADY": day,
        "AVISIT": visit,
        "AVISITN": None if row.get("VISITNUM") is None else int(row["VISITNUM"]),
    }


def _adcs(sdtm: dict[str, Dataset]) -> pl.DataFrame:
    rows = [
        {"USUBJID": r["USUBJID"], "PARAMCD": "WHO", "AVAL": int(r["RSSTRESN"]), "ADY": day}
        for r in _rows(sdtm, "RS")
        if r["RSTESTCD"] == "WHOCPS" and r["RSSTRESN"] is not None and (day := _day(r, "RSDY")) is not None
    ]
    frame = pl.DataFrame(rows, schema=dict(ADCS.columns))
    # One score per participant and day: the worst of the day (several assessments may be entered).
    worst = frame.group_by("USUBJID", "PARAMCD", "ADY").agg(pl.col("AVAL").max())
    return worst.select(ADCS.names).sort("USUBJID", "ADY")


def _adae(snapshot: Snapshot, sdtm: dict[str, Dataset]) -> pl.DataFrame:
    rows = [
        {
            "USUBJID": r["USUBJID"],
            "AEDECOD": str(r["AETERM"]),
            "AETOXGR": int(r["AETOXGR"]) if r["AETOXGR"] else None,
            "ASTDY": _protocol_day(r["AESTDY"]),
            "AESER": r["AESER"] or "N",
        }
        for r in _rows(sdtm, "AE")
    ]
    from iliad7.standards.sdtm import iso, study_day

    for subject in snapshot.subjects:
        for form in subject.forms_of("SECONDARY-INFECTION"):
            if subject.adjudications.get(form.instance) != "confirmed":
                continue  # the SAP counts the infections the committee confirmed (3.5.5)
            onset = iso(subject, form.get("onset_date"))
            rows.append(
                {
                    "USUBJID": subject.usubjid,
                    "AEDECOD": "secondary_infection",
                    "AETOXGR": None,
                    "ASTDY": _protocol_day(study_day(subject, onset)),
                    "AESER": "N",
                }
            )
    return pl.DataFrame(rows, schema=dict(ADAE.columns)).sort("USUBJID", "ASTDY", "AEDECOD", nulls_last=True)


def _episodes(rows: list[dict[str, Any]], category: dict[str, str], cat_var: str, prefix: str, out: str) -> list[Any]:
    return [
        {
            "USUBJID": r["USUBJID"],
            out: category[r[cat_var]],
            "STARTDY": _protocol_day(r[f"{prefix}STDY"]),
            "ENDDY": _protocol_day(r[f"{prefix}ENDY"]),
        }
        for r in rows
        if r[cat_var] in category and r[f"{prefix}STDY"] is not None
    ]


def _who_baseline(adcs: pl.DataFrame) -> dict[str, int]:
    baseline = adcs.filter(pl.col("ADY") <= 0).sort("ADY").group_by("USUBJID").agg(pl.col("AVAL").last())
    return dict(zip(baseline["USUBJID"].to_list(), baseline["AVAL"].to_list(), strict=True))


def analysis_data(snapshot: Snapshot, sdtm: dict[str, Dataset]) -> AnalysisData:
    """The SAP's datasets of the randomized participants in `snapshot` (as its user may see them)."""
    snapshot, sdtm = randomized_only(snapshot, sdtm)
    days = protocol_days()
    horizon = days.horizon_day
    adcs = _adcs(sdtm)
    adae = _adae(snapshot, sdtm)
    adho = pl.DataFrame(_episodes(_rows(sdtm, "HO"), _HOCAT, "HOTERM", "HO", "HOCAT"), schema=dict(ADHO.columns))
    adsupp = pl.DataFrame(_episodes(_rows(sdtm, "PR"), _SUPPCAT, "PRCAT", "PR", "SUPPCAT"), schema=dict(ADSUPP.columns))
    screening = {s.usubjid: s.screening for s in snapshot.subjects}
    who_base = _who_baseline(adcs)
    facts = _subject_facts(snapshot, sdtm).drop("_DTHFL", "_LSTSRC")
    ids = facts["USUBJID"].to_list()
    support = [(screening[u].get("respiratory_support") or {}).get("device") for u in ids]
    facts = facts.with_columns(
        SEVERITY=pl.Series([_SEVERITY.get(str(d)) for d in support], dtype=pl.String),
        WHOBL=pl.Series([who_base.get(u) for u in ids], dtype=pl.Int64),
        ALCBL=pl.Series([_screening_alc(screening[u]) for u in ids], dtype=pl.Float64),
    )
    adsl = derive_adsl(check(facts.select(ADSL_SOURCE.names), ADSL_SOURCE), adsupp, adho, adcs)
    adlb = derive_base(_adlb_source(sdtm))
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
        adho=adho.sort("USUBJID", "HOCAT", "STARTDY"),
        adsupp=adsupp.sort("USUBJID", "SUPPCAT", "STARTDY"),
    )
