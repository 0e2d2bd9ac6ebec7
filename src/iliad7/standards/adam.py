"""ADaM (ADaMIG 1.3) analysis datasets ADSL, ADLB, ADTTE and ADAE built from the SDTM datasets.

The derivations are `iliad7.analysis.derive`'s (populations, baseline, the primary-analysis
record ANL01FL, organ-support-free days, time to death), fed with frames assembled here from
SDTM; every ADLB, ADTTE and ADAE record names its source (SRCDOM, SRCVAR, SRCSEQ). Dates are
numeric SAS dates (days since 1960-01-01) with the DATE9. format. Study days (ADY, DTHDY,
LSTALVDY, ASTDY and the AVAL of ADTTE) follow the SAP: day 0 is the day of dose 1 (SDTM's --DY
has no day 0, so ADY = --DY - 1 on and after dose 1). ADSL holds the screen failures too, with
RANDFL = N and every analysis population flag N; the other datasets hold randomized participants.
In a blinded export TRT01P, TRT01A, TRTP and TRTA (and their numeric codes) are blank.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import date
from typing import Any

import polars as pl

from iliad7.analysis import derive
from iliad7.analysis.datasets import ADSL_SOURCE
from iliad7.standards.dataset import Dataset, Variable, make_dataset
from iliad7.standards.meddra import UNCODED
from iliad7.standards.sdtm import ARMCD
from iliad7.standards.snapshot import Snapshot

V = Variable
_ARM_OF = {code: arm for arm, code in ARMCD.items()}  # ARMCD -> TRT01P value (CYT107, placebo)
_ARMN = {"CYT107": 1, "placebo": 2}
_SUPPCAT = {"RESPIRATORY SUPPORT": "RESPIRATORY", "CARDIOVASCULAR SUPPORT": "CARDIOVASCULAR", "RENAL SUPPORT": "RENAL"}
SAS_EPOCH = date(1960, 1, 1)
DATE9 = "DATE9."
# CP's T-cell tests as the SAP's ADLB parameters
CELL_PARAMS = {"TLYH": "CD4", "TLC": "CD8"}


def sas_date(dtc: str) -> int | None:
    """A SAS date (days since 1960-01-01) of the date part of an ISO 8601 --DTC; None when there is none."""
    if not dtc or len(dtc) < 10:
        return None
    return (date.fromisoformat(dtc[:10]) - SAS_EPOCH).days


def _date_var(name: str, label: str, **kwargs: Any) -> Variable:
    return V(name, label, "Num", display_format=DATE9, **kwargs)


def _protocol_day(sdtm_day: float | None) -> int | None:
    if sdtm_day is None:
        return None
    day = int(sdtm_day)
    return day - 1 if day > 0 else day


def _rows(dataset: Dataset) -> list[dict[str, Any]]:
    return dataset.frame.to_dicts()


def randomized_only(snapshot: Snapshot, sdtm: dict[str, Dataset]) -> tuple[Snapshot, dict[str, Dataset]]:
    """The snapshot and SDTM datasets without the screen failures (what every analysis reads)."""
    keep = {s.usubjid for s in snapshot.subjects if not s.screen_failed}
    subjects = tuple(s for s in snapshot.subjects if s.usubjid in keep)
    datasets = {
        name: replace(d, frame=d.frame.filter(pl.col("USUBJID").is_in(list(keep))))
        if "USUBJID" in d.frame.columns and d.frame.height
        else d
        for name, d in sdtm.items()
    }
    return replace(snapshot, subjects=subjects), datasets


def _subject_facts(snapshot: Snapshot, sdtm: dict[str, Dataset]) -> pl.DataFrame:
    """ADSL_SOURCE columns (iliad7.analysis) of the randomized participants from DM, EX, LB, HO, DS, ...

    Besides: `_DTHFL`, and `_LSTSRC` (domain, variable, --SEQ) of the record giving the last day known alive.
    """
    snapshot, sdtm = randomized_only(snapshot, sdtm)
    doses: dict[str, int] = {}
    for row in _rows(sdtm["EX"]):
        doses[row["USUBJID"]] = doses.get(row["USUBJID"], 0) + 1
    last_day: dict[str, int] = {}
    last_source: dict[str, tuple[str, str, int | None]] = {}
    for name in ("EX", "LB", "CP", "MB", "VS", "RS", "DS", "SV"):
        if name not in sdtm:
            continue
        day_vars = [c for c in sdtm[name].frame.columns if c.endswith("DY") and c != "VISITDY"]
        for row in _rows(sdtm[name]):
            if name == "DS" and row.get("DSCAT") == "PROTOCOL MILESTONE":
                continue  # the randomization record's date is the moment of entry, not a contact
            found = [(int(row[var]), var) for var in day_vars if row[var] is not None]
            if not found and row.get("VISITDY") is not None:
                found = [(int(row["VISITDY"]), "VISITDY")]  # an undated record at a visit: its planned day
            for sdtm_day, var in found:
                day = sdtm_day - 1 if sdtm_day > 0 else sdtm_day
                if day > last_day.get(row["USUBJID"], -(10**6)):
                    last_day[row["USUBJID"]] = day
                    seq = row.get(f"{name}SEQ")
                    source_var = var.replace("DY", "DTC") if var != "VISITDY" else "VISITDY"
                    last_source[row["USUBJID"]] = (name, source_var, None if seq is None else int(seq))
    discharge: dict[str, int] = {}
    for row in _rows(sdtm["HO"]) if "HO" in sdtm else []:
        if row["HOTERM"] == "HOSPITAL" and row["HOENDY"] is not None:
            discharge.setdefault(row["USUBJID"], _protocol_day(row["HOENDY"]))  # type: ignore[arg-type]
    weights = {s.usubjid: s.screening.get("weight_kg") for s in snapshot.subjects}
    subjects = {s.usubjid: s for s in snapshot.subjects}
    from iliad7.standards.sdtm import study_day

    rows = []
    for dm in _rows(sdtm["DM"]):
        usubjid = dm["USUBJID"]
        death_day = _protocol_day(study_day(subjects[usubjid], dm["DTHDTC"])) if dm["DTHDTC"] else None
        rows.append(
            {
                "USUBJID": usubjid,
                "SITEID": dm["SITEID"],
                "TRT01P": _ARM_OF.get(dm["ARMCD"]),
                "ACTARM": _ARM_OF.get(dm["ACTARMCD"]),
                "AGE": None if dm["AGE"] is None else int(dm["AGE"]),
                "SEX": dm["SEX"],
                "WEIGHTBL": None if weights.get(usubjid) is None else float(str(weights[usubjid])),
                "SEVERITY": None,
                "WHOBL": None,
                "ALCBL": None,
                "NDOSES": doses.get(usubjid, 0),
                "DVMAJFL": "N",
                "DTHDY": death_day,
                "LSTALVDY": death_day if death_day is not None else last_day.get(usubjid, 0),
                "DSCHDY": discharge.get(usubjid),
                "_DTHFL": dm["DTHFL"] or "N",
                "_LSTSRC": "|".join("" if v is None else str(v) for v in last_source.get(usubjid, ("", "", None))),
            }
        )
    schema = {name: dtype for name, dtype in ADSL_SOURCE.columns} | {"_DTHFL": pl.String, "_LSTSRC": pl.String}
    return pl.DataFrame(rows, schema=schema)


ADSL_VARS = (
    V("STUDYID", "Study Identifier", source="DM.STUDYID", origin="Predecessor"),
    V("USUBJID", "Unique Subject Identifier", source="DM.USUBJID", origin="Predecessor"),
    V("SUBJID", "Subject Identifier for the Study", source="DM.SUBJID", origin="Predecessor"),
    V("SITEID", "Study Site Identifier", codelist="SITEID", source="DM.SITEID", origin="Predecessor"),
    V("COUNTRY", "Country", codelist="COUNTRY", source="DM.COUNTRY", origin="Predecessor"),
    V("AGE", "Age", "Num", source="DM.AGE", origin="Predecessor"),
    V("AGEU", "Age Units", codelist="AGEU", source="DM.AGEU", origin="Predecessor"),
    V("AGEGR1", "Pooled Age Group 1", codelist="AGEGR1", origin="Derived", method="<65 when AGE < 65, else >=65."),
    V("AGEGR1N", "Pooled Age Group 1 (N)", "Num", codelist="AGEGR1N", origin="Derived",
      method="1 for <65, 2 for >=65."),
    V("SEX", "Sex", codelist="SEX", source="DM.SEX", origin="Predecessor"),
    V("RACE", "Race", codelist="RACE", source="DM.RACE", origin="Predecessor"),
    V("ETHNIC", "Ethnicity", codelist="ETHNIC", source="DM.ETHNIC", origin="Predecessor"),
    V("ARM", "Description of Planned Arm", codelist="ARM", source="DM.ARM", origin="Predecessor"),
    V("ACTARM", "Description of Actual Arm", codelist="ARM", source="DM.ACTARM", origin="Predecessor"),
    V("TRT01P", "Planned Treatment for Period 01", codelist="TRT01P", origin="Derived", source="DM.ARM",
      method="DM.ARM (CYT107 or placebo); null for a screen failure and in a blinded export."),
    V("TRT01PN", "Planned Treatment for Period 01 (N)", "Num", codelist="TRT01PN", origin="Derived",
      method="1 for CYT107, 2 for placebo."),
    V("TRT01A", "Actual Treatment for Period 01", codelist="TRT01P", origin="Derived", source="DM.ACTARM",
      method="The arm of the kits given (DM.ACTARM) when at least one dose was given, else null."),
    V("TRT01AN", "Actual Treatment for Period 01 (N)", "Num", codelist="TRT01PN", origin="Derived"),
    _date_var("RANDDT", "Date of Randomization", origin="Derived", source="DS.DSSTDTC (RANDOMIZED)"),
    _date_var("TRTSDT", "Date of First Exposure to Treatment", origin="Derived", source="DM.RFXSTDTC"),
    _date_var("TRTEDT", "Date of Last Exposure to Treatment", origin="Derived", source="DM.RFXENDTC"),
    V("RANDFL", "Randomized Population Flag", codelist="NY", origin="Derived",
      method="Y for a randomized participant, N for a screen failure (DM.ARMNRS = SCREEN FAILURE)."),
    V("ITTFL", "Intent-To-Treat Population Flag", codelist="NY", origin="Derived",
      method="Y for every randomized participant (SAP 2.2)."),
    V("SAFFL", "Safety Population Flag", codelist="NY", origin="Derived", source="EX",
      method="Y when at least one dose was given (SAP 2.2)."),
    V("MITTFL", "Modified Intent-To-Treat Population Flag", codelist="NY", origin="Derived", source="EX",
      method="Randomized and given at least one dose (SAP 2.2)."),
    V("PPROTFL", "Per-Protocol Population Flag", codelist="NY", origin="Derived",
      method="MITT without a major protocol deviation (SAP 2.2)."),
    V("NDOSES", "Number of Doses Received", "Num", origin="Derived", source="EX"),
    V("DTHFL", "Subject Death Flag", codelist="NY", source="DM.DTHFL", origin="Predecessor"),
    _date_var("DTHDT", "Date of Death", origin="Derived", source="DM.DTHDTC"),
    V("DTHDY", "Study Day of Death (Day 0 = Dose 1)", "Num", origin="Derived", source="DM.DTHDTC"),
    V("LSTALVDY", "Last Day Known Alive (Day 0 = Dose 1)", "Num", origin="Derived",
      method="The day of death, else the latest study day of any EX, LB, CP, MB, VS, RS, DS or SV record."),
    V("OSFD45", "Organ Support-Free Days to Day 45", "Num", origin="Derived", source="PR",
      method="REMAP-CAP organ support-free days to day 45 (clinical-rules 2.5); -1 for a death; null while "
      "the participant, alive, is not yet followed to day 45 (its D45 visit window) at the data cut."),
)  # fmt: skip


def _agegr(age: Any) -> tuple[str, int | None]:
    if age is None:
        return "", None
    return ("<65", 1) if int(age) < 65 else (">=65", 2)


def build_adsl(snapshot: Snapshot, sdtm: dict[str, Dataset]) -> tuple[Dataset, pl.DataFrame]:
    facts = _subject_facts(snapshot, sdtm)
    window = snapshot.protocol.osfd_window_days
    supp_rows = [
        {
            "USUBJID": r["USUBJID"],
            "SUPPCAT": _SUPPCAT.get(r["PRCAT"], "OTHER"),
            "STARTDY": _protocol_day(r["PRSTDY"]),
            "ENDDY": _protocol_day(r["PRENDY"]),
        }
        for r in _rows(sdtm["PR"])
    ]
    adsupp = pl.DataFrame(
        supp_rows, schema={"USUBJID": pl.String, "SUPPCAT": pl.String, "STARTDY": pl.Int64, "ENDDY": pl.Int64}
    ).filter(pl.col("STARTDY").is_not_null())
    source = facts.drop("_DTHFL", "_LSTSRC")
    derived = derive.derive_osfd(
        derive.derive_populations(source), adsupp, window_days=window, grace_days=derive.protocol_days().horizon_window
    )
    derived = derived.join(facts.select("USUBJID", "_DTHFL"), on="USUBJID")
    # A death recorded without its date (status `died`, no DEATH form) still scores -1 (clinical-rules 2.5).
    derived = derived.with_columns(
        OSFD45=pl.when(pl.col("_DTHFL") == "Y").then(pl.lit(-1, dtype=pl.Int64)).otherwise(pl.col("OSFD45"))
    )
    by_subject = {r["USUBJID"]: r for r in derived.to_dicts()}
    randomized = {r["USUBJID"]: r["DSSTDTC"] for r in _rows(sdtm["DS"]) if r["DSDECOD"] == "RANDOMIZED"}
    rows = []
    for d in _rows(sdtm["DM"]):
        r = by_subject.get(d["USUBJID"])
        group, group_n = _agegr(d["AGE"])
        row: dict[str, Any] = {
            "STUDYID": d["STUDYID"], "USUBJID": d["USUBJID"], "SUBJID": d["SUBJID"], "SITEID": d["SITEID"],
            "COUNTRY": d["COUNTRY"], "AGE": d["AGE"], "AGEU": d["AGEU"], "AGEGR1": group, "AGEGR1N": group_n,
            "SEX": d["SEX"], "RACE": d["RACE"], "ETHNIC": d["ETHNIC"], "ARM": d["ARM"], "ACTARM": d["ACTARM"],
            "DTHFL": d["DTHFL"] or "N", "DTHDT": sas_date(d["DTHDTC"]),
        }  # fmt: skip
        if r is None:  # a screen failure: in no analysis population
            row |= {"RANDFL": "N", "ITTFL": "N", "SAFFL": "N", "MITTFL": "N", "PPROTFL": "N", "NDOSES": 0}
        else:
            row |= {
                "TRT01P": r["TRT01P"], "TRT01PN": _ARMN.get(r["TRT01P"] or ""), "TRT01A": r["TRT01A"],
                "TRT01AN": _ARMN.get(r["TRT01A"] or ""), "RANDDT": sas_date(randomized.get(d["USUBJID"], "")),
                "TRTSDT": sas_date(d["RFXSTDTC"]), "TRTEDT": sas_date(d["RFXENDTC"]), "RANDFL": "Y",
                "ITTFL": r["ITTFL"], "SAFFL": r["SAFFL"], "MITTFL": r["MITTFL"], "PPROTFL": r["PPROTFL"],
                "NDOSES": r["NDOSES"], "DTHFL": r["_DTHFL"], "DTHDY": r["DTHDY"], "LSTALVDY": r["LSTALVDY"],
                "OSFD45": r["OSFD45"],
            }  # fmt: skip
        rows.append(row)
    dataset = make_dataset(
        "ADSL",
        "Subject-Level Analysis Dataset",
        klass="SUBJECT LEVEL ANALYSIS DATASET",
        structure="One record per subject",
        keys=("STUDYID", "USUBJID"),
        variables=ADSL_VARS,
        rows=rows,
        standard="ADaM",
        comment="Randomized participants and screen failures (RANDFL = N, out of every analysis population).",
    )
    return dataset, facts


_SRC = (
    V("SRCDOM", "Source Data", origin="Derived"),
    V("SRCVAR", "Source Variable", origin="Derived"),
    V("SRCSEQ", "Source Sequence Number", "Num", origin="Derived"),
)
ADLB_VARS = (
    V("STUDYID", "Study Identifier", origin="Predecessor", source="LB.STUDYID"),
    V("USUBJID", "Unique Subject Identifier", origin="Predecessor", source="LB.USUBJID"),
    V("TRTP", "Planned Treatment", codelist="TRT01P", origin="Predecessor", source="ADSL.TRT01P"),
    V("TRTA", "Actual Treatment", codelist="TRT01P", origin="Predecessor", source="ADSL.TRT01A"),
    V("TRT01P", "Planned Treatment for Period 01", codelist="TRT01P", origin="Predecessor", source="ADSL.TRT01P"),
    V("PARAMCD", "Parameter Code", codelist="PARAMCD_ADLB", origin="Assigned", source="LB.LBTESTCD or CP.CPTESTCD"),
    V("PARAM", "Parameter", origin="Assigned"),
    V("PARAMN", "Parameter (N)", "Num", origin="Assigned"),
    V("AVAL", "Analysis Value", "Num", origin="Predecessor", source="LB.LBSTRESN or CP.CPSTRESN"),
    V("AVALC", "Analysis Value (C)", origin="Predecessor", source="LB.LBSTRESC or CP.CPSTRESC"),
    V("BASE", "Baseline Value", "Num", origin="Derived", method="AVAL of the baseline record (ABLFL = Y)."),
    V("CHG", "Change from Baseline", "Num", origin="Derived", method="AVAL - BASE."),
    _date_var("ADT", "Analysis Date", origin="Derived", source="LB.LBDTC or CP.CPDTC"),
    V("ADY", "Analysis Relative Day (Day 0 = Dose 1)", "Num", origin="Derived", source="LB.LBDY or LB.VISITDY",
      method="The SAP's study day: day 0 is the day of dose 1 (--DY - 1 on and after dose 1); an undated record "
      "takes its visit's planned day."),
    V("AVISIT", "Analysis Visit", origin="Derived", source="LB.VISIT"),
    V("AVISITN", "Analysis Visit (N)", "Num", origin="Derived", source="LB.VISITNUM"),
    V("ABLFL", "Baseline Record Flag", codelist="NY", origin="Derived",
      method="Y on the last record on or before day 0 (SAP 3.2)."),
    V("ANL01FL", "Analysis Flag 01 (Primary ALC Record)", codelist="NY", origin="Derived",
      method="Y on the one LYM record per participant the primary analysis reads: day 30 or discharge (SAP 3.2.1)."),
    *_SRC,
)  # fmt: skip


def _lab_records(sdtm: dict[str, Dataset]) -> list[dict[str, Any]]:
    """The LAB form's results (LB and CP, not the screening record's), as the SAP reads them."""
    records = []
    for r in _rows(sdtm["LB"]):
        if r["LBSTRESN"] is None or not str(r["LBSPID"]).startswith("LAB-"):
            continue
        records.append((r, r["LBTESTCD"], "LB", "LBSTRESN", r["LBSTRESC"], r["LBDTC"], r["LBDY"], r["LBSEQ"]))
    for r in _rows(sdtm["CP"]) if "CP" in sdtm else []:
        if r["CPSTRESN"] is None:
            continue
        records.append(
            (r, CELL_PARAMS[r["CPTESTCD"]], "CP", "CPSTRESN", r["CPSTRESC"], r["CPDTC"], r["CPDY"], r["CPSEQ"])
        )
    out = []
    for r, paramcd, domain, var, text, dtc, sdtm_day, seq in records:
        day = _protocol_day(sdtm_day) if sdtm_day is not None else _protocol_day(r["VISITDY"])
        out.append(
            {
                "USUBJID": r["USUBJID"], "PARAMCD": paramcd, "AVAL": float(r[var]), "AVALC": text, "ADY": day,
                "AVISIT": r["VISIT"], "AVISITN": None if r["VISITNUM"] is None else int(r["VISITNUM"]),
                "SRCSEQ": int(seq), "STUDYID": r["STUDYID"], "SRCDOM": domain, "SRCVAR": var, "ADT": sas_date(dtc),
            }
        )  # fmt: skip
    return out


def build_adlb(sdtm: dict[str, Dataset], facts: pl.DataFrame) -> Dataset:
    from iliad7.standards.terminology import CODELISTS, decode

    days = derive.protocol_days()
    frame = pl.DataFrame(
        _lab_records(sdtm),
        schema={
            "USUBJID": pl.String, "PARAMCD": pl.String, "AVAL": pl.Float64, "AVALC": pl.String, "ADY": pl.Int64,
            "AVISIT": pl.String, "AVISITN": pl.Int64, "SRCSEQ": pl.Int64, "STUDYID": pl.String, "SRCDOM": pl.String,
            "SRCVAR": pl.String, "ADT": pl.Int64,
        },
    )  # fmt: skip
    frame = derive.derive_base(frame)
    frame = derive.derive_anl01fl(
        frame, facts.drop("_DTHFL", "_LSTSRC"), endpoint_day=days.endpoint_day, endpoint_window=days.endpoint_window
    )
    planned = dict(zip(facts["USUBJID"].to_list(), facts["TRT01P"].to_list(), strict=True))
    actual = dict(zip(facts["USUBJID"].to_list(), derive.derive_populations(facts)["TRT01A"].to_list(), strict=True))
    order = list(CODELISTS["PARAMCD_ADLB"].terms)
    rows = []
    for r in frame.sort("USUBJID", "PARAMCD", "ADY", "SRCDOM", "SRCSEQ").to_dicts():
        rows.append(
            {
                **r,
                "PARAM": decode("PARAMCD_ADLB", r["PARAMCD"]),
                "PARAMN": order.index(r["PARAMCD"]) + 1,
                "CHG": None if r["BASE"] is None else round(r["AVAL"] - r["BASE"], 6),
                "TRT01P": planned.get(r["USUBJID"]),
                "TRTP": planned.get(r["USUBJID"]),
                "TRTA": actual.get(r["USUBJID"]),
            }
        )
    return make_dataset(
        "ADLB",
        "Laboratory Analysis Dataset",
        klass="BASIC DATA STRUCTURE",
        structure="One record per subject per parameter per analysis visit",
        keys=("STUDYID", "USUBJID", "PARAMCD", "SRCDOM", "SRCSEQ"),
        variables=ADLB_VARS,
        rows=rows,
        standard="ADaM",
        comment="The LAB form's results: LB, and the CD4+/CD8+ T-cell counts of CP (PARAMCD CD4, CD8).",
    )


ADTTE_VARS = (
    V("STUDYID", "Study Identifier", origin="Predecessor", source="DM.STUDYID"),
    V("USUBJID", "Unique Subject Identifier", origin="Predecessor", source="DM.USUBJID"),
    V("TRTP", "Planned Treatment", codelist="TRT01P", origin="Predecessor", source="ADSL.TRT01P"),
    V("TRTA", "Actual Treatment", codelist="TRT01P", origin="Predecessor", source="ADSL.TRT01A"),
    V("TRT01P", "Planned Treatment for Period 01", codelist="TRT01P", origin="Predecessor", source="ADSL.TRT01P"),
    V("PARAMCD", "Parameter Code", codelist="PARAMCD_ADTTE", origin="Assigned"),
    V("PARAM", "Parameter", origin="Assigned"),
    V("PARAMN", "Parameter (N)", "Num", origin="Assigned"),
    V("AVAL", "Analysis Value (Days from Dose 1)", "Num", origin="Derived",
      method="ADT - STARTDT: days from dose 1 (day 0) to death, or to the censoring day (SAP 3.5.1)."),
    _date_var("STARTDT", "Time-to-Event Origin Date for Subject", origin="Derived", source="ADSL.TRTSDT"),
    _date_var("ADT", "Analysis Date", origin="Derived",
              method="The date of death for an event; for a censoring, the earlier of day 45 and the last day known "
              "alive."),
    V("CNSR", "Censor", "Num", origin="Derived", method="0 for a death by day 45, 1 for a censoring."),
    V("EVNTDESC", "Event or Censoring Description", origin="Derived"),
    V("CNSDTDSC", "Censor Date Description", origin="Derived"),
    *_SRC,
)  # fmt: skip


def build_adtte(snapshot: Snapshot, sdtm: dict[str, Dataset], facts: pl.DataFrame) -> Dataset:
    from iliad7.standards.terminology import decode

    horizon = snapshot.protocol.osfd_window_days
    tte = derive.derive_tte_death(facts.drop("_DTHFL", "_LSTSRC"), horizon_day=horizon)
    dm = {r["USUBJID"]: r for r in _rows(sdtm["DM"])}
    facts_by = {r["USUBJID"]: r for r in facts.to_dicts()}
    actual = dict(zip(facts["USUBJID"].to_list(), derive.derive_populations(facts)["TRT01A"].to_list(), strict=True))
    completion = {
        r["USUBJID"]: int(r["DSSEQ"])
        for r in _rows(sdtm["DS"])
        if r["DSCAT"] == "DISPOSITION EVENT" and r["DSSCAT"] == "STUDY PARTICIPATION"
    }
    rows = []
    for r in tte.to_dicts():
        d, f = dm[r["USUBJID"]], facts_by[r["USUBJID"]]
        event = r["CNSR"] == 0
        source: tuple[str, str, int | None]
        # Day 0 is dose 1; a participant never dosed is followed from randomization.
        start = sas_date(d["RFSTDTC"]) or sas_date(
            next(
                (
                    x["DSSTDTC"]
                    for x in _rows(sdtm["DS"])
                    if x["USUBJID"] == r["USUBJID"] and x["DSDECOD"] == "RANDOMIZED"
                ),
                "",
            )
        )
        at_horizon = not event and r["AVAL"] >= horizon
        if event:
            description, censor, source = "DEATH", "", ("DM", "DTHDTC", None)
        elif at_horizon:
            description, censor = f"ALIVE: CENSORED AT DAY {horizon}", f"END OF FOLLOW-UP (DAY {horizon})"
            seq = completion.get(r["USUBJID"])
            source = ("DS", "DSSTDTC", seq) if seq is not None else ("ADSL", "LSTALVDY", None)
        else:
            description, censor = f"ALIVE: CENSORED AT DAY {int(r['AVAL'])}", "LAST DAY KNOWN ALIVE"
            domain, var, seq_text = (f["_LSTSRC"] or "||").split("|")
            source = (domain, var, int(seq_text) if seq_text else None) if domain else ("ADSL", "LSTALVDY", None)
        rows.append(
            {
                "STUDYID": d["STUDYID"], "USUBJID": r["USUBJID"], "TRTP": f["TRT01P"], "TRTA": actual.get(r["USUBJID"]),
                "TRT01P": f["TRT01P"], "PARAMCD": "TTDTH45", "PARAM": decode("PARAMCD_ADTTE", "TTDTH45"), "PARAMN": 1,
                "AVAL": r["AVAL"], "STARTDT": start, "ADT": None if start is None else start + int(r["AVAL"]),
                "CNSR": r["CNSR"], "EVNTDESC": description, "CNSDTDSC": censor,
                "SRCDOM": source[0], "SRCVAR": source[1], "SRCSEQ": source[2],
            }
        )  # fmt: skip
    return make_dataset(
        "ADTTE",
        "Time-to-Event Analysis Dataset",
        klass="BASIC DATA STRUCTURE",
        structure="One record per subject per parameter",
        keys=("STUDYID", "USUBJID", "PARAMCD"),
        variables=ADTTE_VARS,
        rows=rows,
        standard="ADaM",
    )


ADAE_VARS = (
    V("STUDYID", "Study Identifier", origin="Predecessor", source="AE.STUDYID"),
    V("USUBJID", "Unique Subject Identifier", origin="Predecessor", source="AE.USUBJID"),
    V("AESEQ", "Sequence Number", "Num", origin="Predecessor", source="AE.AESEQ"),
    V("TRTA", "Actual Treatment", codelist="TRT01P", origin="Predecessor", source="ADSL.TRT01A"),
    V("TRT01A", "Actual Treatment for Period 01", codelist="TRT01P", origin="Predecessor", source="ADSL.TRT01A"),
    V("AETERM", "Reported Term for the Adverse Event", origin="Predecessor", source="AE.AETERM"),
    V("AEDECOD", "Dictionary-Derived Term", origin="Predecessor", source="AE.AEDECOD"),
    V("AEBODSYS", "Body System or Organ Class", origin="Derived", source="AE.AEBODSYS",
      method="AE.AEBODSYS; UNCODED (as AEDECOD says) for an event without MedDRA coding."),
    V("AESOC", "Primary System Organ Class", origin="Derived", source="AE.AESOC",
      method="AE.AESOC; UNCODED (as AEDECOD says) for an event without MedDRA coding."),
    V("AESER", "Serious Event", codelist="NY", origin="Predecessor", source="AE.AESER"),
    V("AEOUT", "Outcome of Adverse Event", codelist="OUT", origin="Predecessor", source="AE.AEOUT"),
    V("AEREL", "Causality", codelist="AEREL", origin="Predecessor", source="AE.AEREL"),
    V("AETOXGR", "Standard Toxicity Grade", codelist="TOXGR", origin="Predecessor", source="AE.AETOXGR"),
    V("ATOXGRN", "Analysis Toxicity Grade (N)", "Num", origin="Derived", source="AE.AETOXGR"),
    V("AESTDTC", "Start Date/Time of Adverse Event", origin="Predecessor", source="AE.AESTDTC"),
    V("AEENDTC", "End Date/Time of Adverse Event", origin="Predecessor", source="AE.AEENDTC"),
    _date_var("ASTDT", "Analysis Start Date", origin="Derived", source="AE.AESTDTC"),
    _date_var("AENDT", "Analysis End Date", origin="Derived", source="AE.AEENDTC"),
    V("ASTDY", "Analysis Start Day (Day 0 = Dose 1)", "Num", origin="Derived", source="AE.AESTDY"),
    V("TRTEMFL", "Treatment Emergent Analysis Flag", codelist="NY", origin="Derived",
      method="Y when the event starts on or after the date of dose 1 (ASTDT >= ADSL.TRTSDT), else null."),
    *_SRC,
)  # fmt: skip


def build_adae(sdtm: dict[str, Dataset], adsl: Dataset) -> Dataset:
    """One record per adverse event, treatment-emergent when it starts on or after the date of dose 1."""
    subjects = {r["USUBJID"]: r for r in _rows(adsl)}
    rows = []
    for r in _rows(sdtm["AE"]):
        s = subjects[r["USUBJID"]]
        start, first = sas_date(r["AESTDTC"]), s["TRTSDT"]
        emergent = start is not None and first is not None and start >= first
        rows.append(
            {
                "STUDYID": r["STUDYID"], "USUBJID": r["USUBJID"], "AESEQ": int(r["AESEQ"]), "TRTA": s.get("TRT01A"),
                "TRT01A": s.get("TRT01A"), "AETERM": r["AETERM"], "AEDECOD": r["AEDECOD"],
                "AEBODSYS": r["AEBODSYS"] or UNCODED,
                "AESOC": r["AESOC"] or UNCODED, "AESER": r["AESER"], "AEOUT": r["AEOUT"], "AEREL": r["AEREL"],
                "AETOXGR": r["AETOXGR"], "ATOXGRN": int(r["AETOXGR"]) if r["AETOXGR"] else None,
                "AESTDTC": r["AESTDTC"], "AEENDTC": r["AEENDTC"], "ASTDT": start, "AENDT": sas_date(r["AEENDTC"]),
                "ASTDY": _protocol_day(r["AESTDY"]), "TRTEMFL": "Y" if emergent else "",
                "SRCDOM": "AE", "SRCVAR": "AESEQ", "SRCSEQ": int(r["AESEQ"]),
            }
        )  # fmt: skip
    return make_dataset(
        "ADAE",
        "Adverse Events Analysis Dataset",
        klass="OCCURRENCE DATA STRUCTURE",
        structure="One record per adverse event per subject",
        keys=("STUDYID", "USUBJID", "AESEQ"),
        variables=ADAE_VARS,
        rows=rows,
        standard="ADaM",
        comment="AEDECOD, AEBODSYS and AESOC are AE's MedDRA coding (UNCODED without the sponsor's dictionary).",
    )


def build_adam(snapshot: Snapshot, sdtm: dict[str, Dataset]) -> dict[str, Dataset]:
    """ADSL (with the screen failures), ADLB, ADTTE, and ADAE when there are adverse events."""
    adsl, facts = build_adsl(snapshot, sdtm)
    _, randomized = randomized_only(snapshot, sdtm)
    built = {"ADSL": adsl, "ADLB": build_adlb(randomized, facts), "ADTTE": build_adtte(snapshot, randomized, facts)}
    if randomized["AE"].frame.height:
        built["ADAE"] = build_adae(randomized, adsl)
    return built
