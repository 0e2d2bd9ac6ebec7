"""ADaM (ADaMIG 1.1) analysis datasets ADSL, ADLB, ADTTE and ADAE built from the SDTM datasets.

The derivations are `iliad7.analysis.derive`'s (populations, baseline, the
primary-analysis record ANL01FL, organ-support-free days, time to death), fed
with frames assembled here from SDTM; every ADLB and ADTTE record names its
source (SRCDOM, SRCVAR, SRCSEQ). Study days (ADY, DTHDY, AVAL of ADTTE)
follow the SAP: day 0 is the day of dose 1 (SDTM's --DY has no day 0, so
ADY = --DY - 1 on and after dose 1). A lab record without a collection date
takes its visit's planned day (ADTF-like convention, documented in
docs/standards.md). In a blinded export TRT01P and TRT01A are blank.
"""

from __future__ import annotations

from typing import Any

import polars as pl

from iliad7.analysis import derive
from iliad7.analysis.datasets import ADSL_SOURCE
from iliad7.standards.dataset import Dataset, Variable, make_dataset
from iliad7.standards.sdtm import ARMCD
from iliad7.standards.snapshot import Snapshot

V = Variable
_ARM_OF = {code: arm for arm, code in ARMCD.items()}  # ARMCD -> TRT01P value (CYT107, placebo)
_SUPPCAT = {"RESPIRATORY SUPPORT": "RESPIRATORY", "CARDIOVASCULAR SUPPORT": "CARDIOVASCULAR", "RENAL SUPPORT": "RENAL"}


def _protocol_day(sdtm_day: float | None) -> int | None:
    if sdtm_day is None:
        return None
    day = int(sdtm_day)
    return day - 1 if day > 0 else day


def _rows(dataset: Dataset) -> list[dict[str, Any]]:
    return dataset.frame.to_dicts()


def _subject_facts(snapshot: Snapshot, sdtm: dict[str, Dataset]) -> pl.DataFrame:
    """ADSL_SOURCE columns (iliad7.analysis) from DM, EX, LB, HO, DS."""
    doses: dict[str, int] = {}
    for row in _rows(sdtm["EX"]):
        doses[row["USUBJID"]] = doses.get(row["USUBJID"], 0) + 1
    last_day: dict[str, int] = {}
    for name in ("EX", "LB", "MB", "VS", "RS", "DS", "SV"):
        if name not in sdtm:
            continue
        day_vars = [c for c in sdtm[name].frame.columns if c.endswith("DY") and c != "VISITDY"]
        for row in _rows(sdtm[name]):
            if name == "DS" and row.get("DSCAT") == "PROTOCOL MILESTONE":
                continue  # the randomization record's date is the moment of entry, not a contact
            found = [int(row[var]) for var in day_vars if row[var] is not None]
            if not found and row.get("VISITDY") is not None:
                found = [int(row["VISITDY"])]  # an undated record at a visit: its planned day
            for sdtm_day in found:
                day = sdtm_day - 1 if sdtm_day > 0 else sdtm_day
                last_day[row["USUBJID"]] = max(last_day.get(row["USUBJID"], 0), day)
    discharge: dict[str, int] = {}
    for row in _rows(sdtm["HO"]) if "HO" in sdtm else []:
        if row["HOTERM"] == "HOSPITAL" and row["HOENDY"] is not None:
            discharge.setdefault(row["USUBJID"], _protocol_day(row["HOENDY"]))  # type: ignore[arg-type]
    weights = {s.usubjid: s.screening.get("weight_kg") for s in snapshot.subjects}
    rows = []
    for dm in _rows(sdtm["DM"]):
        usubjid = dm["USUBJID"]
        death_day = None
        if dm["DTHDTC"]:
            subject = next(s for s in snapshot.subjects if s.usubjid == usubjid)
            from iliad7.standards.sdtm import study_day

            death_day = _protocol_day(study_day(subject, dm["DTHDTC"]))
        arm = _ARM_OF.get(dm["ARMCD"])
        rows.append(
            {
                "USUBJID": usubjid,
                "SITEID": dm["SITEID"],
                "TRT01P": arm,
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
            }
        )
    schema = {name: dtype for name, dtype in ADSL_SOURCE.columns} | {"_DTHFL": pl.String}
    return pl.DataFrame(rows, schema=schema)


ADSL_VARS = (
    V("STUDYID", "Study Identifier", origin="Predecessor", source="DM.STUDYID"),
    V("USUBJID", "Unique Subject Identifier", origin="Predecessor", source="DM.USUBJID"),
    V("SUBJID", "Subject Identifier for the Study", origin="Predecessor", source="DM.SUBJID"),
    V("SITEID", "Study Site Identifier", codelist="SITEID", origin="Predecessor", source="DM.SITEID"),
    V("AGE", "Age", "Num", origin="Predecessor", source="DM.AGE"),
    V("AGEU", "Age Units", codelist="AGEU", origin="Predecessor", source="DM.AGEU"),
    V("SEX", "Sex", codelist="SEX", origin="Predecessor", source="DM.SEX"),
    V("TRT01P", "Planned Treatment for Period 01", codelist="TRT01P", origin="Derived", source="DM.ARMCD"),
    V("TRT01A", "Actual Treatment for Period 01", codelist="TRT01P", origin="Derived", source="DM.ACTARMCD"),
    V("ITTFL", "Intent-To-Treat Population Flag", codelist="NY", origin="Derived"),
    V("SAFFL", "Safety Population Flag", codelist="NY", origin="Derived", source="EX"),
    V("MITTFL", "Modified Intent-To-Treat Population Flag", codelist="NY", origin="Derived", source="EX"),
    V("PPROTFL", "Per-Protocol Population Flag", codelist="NY", origin="Derived"),
    V("NDOSES", "Number of Doses Received", "Num", origin="Derived", source="EX"),
    V("DTHFL", "Subject Death Flag", codelist="NY", origin="Predecessor", source="DM.DTHFL"),
    V("DTHDY", "Study Day of Death (Day 0 = Dose 1)", "Num", origin="Derived", source="DM.DTHDTC"),
    V("LSTALVDY", "Last Day Known Alive (Day 0 = Dose 1)", "Num", origin="Derived"),
    V("OSFD45", "Organ Support-Free Days to Day 45", "Num", origin="Derived", source="PR"),
)
ADLB_VARS = (
    V("STUDYID", "Study Identifier", origin="Predecessor", source="LB.STUDYID"),
    V("USUBJID", "Unique Subject Identifier", origin="Predecessor", source="LB.USUBJID"),
    V("PARAMCD", "Parameter Code", codelist="PARAMCD_ADLB", origin="Derived", source="LB.LBTESTCD"),
    V("PARAM", "Parameter", origin="Derived"),
    V("AVAL", "Analysis Value", "Num", origin="Predecessor", source="LB.LBSTRESN"),
    V("BASE", "Baseline Value", "Num", origin="Derived"),
    V("CHG", "Change from Baseline", "Num", origin="Derived"),
    V("ADY", "Analysis Relative Day (Day 0 = Dose 1)", "Num", origin="Derived", source="LB.LBDY or LB.VISITDY"),
    V("AVISIT", "Analysis Visit", origin="Derived", source="LB.VISIT"),
    V("AVISITN", "Analysis Visit (N)", "Num", origin="Derived", source="LB.VISITNUM"),
    V("ABLFL", "Baseline Record Flag", codelist="NY", origin="Derived"),
    V("ANL01FL", "Analysis Flag 01 (Primary ALC Record)", codelist="NY", origin="Derived"),
    V("TRT01P", "Planned Treatment for Period 01", codelist="TRT01P", origin="Predecessor", source="ADSL.TRT01P"),
    V("SRCDOM", "Source Data", origin="Derived"),
    V("SRCVAR", "Source Variable", origin="Derived"),
    V("SRCSEQ", "Source Sequence Number", "Num", origin="Derived"),
)
ADTTE_VARS = (
    V("STUDYID", "Study Identifier", origin="Predecessor", source="DM.STUDYID"),
    V("USUBJID", "Unique Subject Identifier", origin="Predecessor", source="DM.USUBJID"),
    V("PARAMCD", "Parameter Code", codelist="PARAMCD_ADTTE", origin="Assigned"),
    V("PARAM", "Parameter", origin="Assigned"),
    V("AVAL", "Analysis Value (Days from Dose 1)", "Num", origin="Derived"),
    V("STARTDT", "Time-to-Event Origin Date (Dose 1)", origin="Derived", source="DM.RFSTDTC"),
    V("CNSR", "Censor", "Num", origin="Derived"),
    V("EVNTDESC", "Event or Censoring Description", origin="Derived"),
    V("TRT01P", "Planned Treatment for Period 01", codelist="TRT01P", origin="Predecessor", source="ADSL.TRT01P"),
    V("SRCDOM", "Source Data", origin="Derived"),
    V("SRCVAR", "Source Variable", origin="Derived"),
    V("SRCSEQ", "Source Sequence Number", "Num", origin="Derived"),
)


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
    source = facts.drop("_DTHFL")
    derived = derive.derive_osfd(derive.derive_populations(source), adsupp, window_days=window)
    derived = derived.join(facts.select("USUBJID", "_DTHFL"), on="USUBJID")
    # A death recorded without its date (status `died`, no DEATH form) still scores -1 (clinical-rules 2.5).
    derived = derived.with_columns(
        OSFD45=pl.when(pl.col("_DTHFL") == "Y").then(pl.lit(-1, dtype=pl.Int64)).otherwise(pl.col("OSFD45"))
    )
    dm = {r["USUBJID"]: r for r in _rows(sdtm["DM"])}
    rows = []
    for r in derived.to_dicts():
        d = dm[r["USUBJID"]]
        rows.append(
            {
                "STUDYID": d["STUDYID"],
                "USUBJID": r["USUBJID"],
                "SUBJID": d["SUBJID"],
                "SITEID": r["SITEID"],
                "AGE": r["AGE"],
                "AGEU": d["AGEU"],
                "SEX": r["SEX"],
                "TRT01P": r["TRT01P"],
                "TRT01A": r["TRT01A"],
                "ITTFL": r["ITTFL"],
                "SAFFL": r["SAFFL"],
                "MITTFL": r["MITTFL"],
                "PPROTFL": r["PPROTFL"],
                "NDOSES": r["NDOSES"],
                "DTHFL": r["_DTHFL"],
                "DTHDY": r["DTHDY"],
                "LSTALVDY": r["LSTALVDY"],
                "OSFD45": r["OSFD45"],
            }
        )
    dataset = make_dataset(
        "ADSL",
        "Subject-Level Analysis Dataset",
        klass="SUBJECT LEVEL ANALYSIS DATASET",
        structure="One record per subject",
        keys=("STUDYID", "USUBJID"),
        variables=ADSL_VARS,
        rows=rows,
        standard="ADaM",
    )
    return dataset, facts


def build_adlb(sdtm: dict[str, Dataset], facts: pl.DataFrame) -> Dataset:
    from iliad7.standards.terminology import decode

    days = derive.protocol_days()
    records = []
    for r in _rows(sdtm["LB"]):
        if r["LBSTRESN"] is None:
            continue
        day = _protocol_day(r["LBDY"]) if r["LBDY"] is not None else _protocol_day(r["VISITDY"])
        records.append(
            {
                "USUBJID": r["USUBJID"],
                "PARAMCD": r["LBTESTCD"],
                "AVAL": float(r["LBSTRESN"]),
                "ADY": day,
                "AVISIT": r["VISIT"],
                "AVISITN": None if r["VISITNUM"] is None else int(r["VISITNUM"]),
                "SRCSEQ": int(r["LBSEQ"]),
                "STUDYID": r["STUDYID"],
            }
        )
    frame = pl.DataFrame(
        records,
        schema={
            "USUBJID": pl.String,
            "PARAMCD": pl.String,
            "AVAL": pl.Float64,
            "ADY": pl.Int64,
            "AVISIT": pl.String,
            "AVISITN": pl.Int64,
            "SRCSEQ": pl.Int64,
            "STUDYID": pl.String,
        },
    )
    frame = derive.derive_base(frame)
    frame = derive.derive_anl01fl(
        frame, facts.drop("_DTHFL"), endpoint_day=days.endpoint_day, endpoint_window=days.endpoint_window
    )
    arms = dict(zip(facts["USUBJID"].to_list(), facts["TRT01P"].to_list(), strict=True))
    rows = []
    for r in frame.sort("USUBJID", "PARAMCD", "ADY", "SRCSEQ").to_dicts():
        rows.append(
            {
                **r,
                "PARAM": decode("PARAMCD_ADLB", r["PARAMCD"]),
                "CHG": None if r["BASE"] is None else round(r["AVAL"] - r["BASE"], 6),
                "TRT01P": arms.get(r["USUBJID"]),
                "SRCDOM": "LB",
                "SRCVAR": "LBSTRESN",
            }
        )
    return make_dataset(
        "ADLB",
        "Laboratory Analysis Dataset",
        klass="BASIC DATA STRUCTURE",
        structure="One record per subject per parameter per analysis visit",
        keys=("STUDYID", "USUBJID", "PARAMCD", "SRCSEQ"),
        variables=ADLB_VARS,
        rows=rows,
        standard="ADaM",
    )


def build_adtte(snapshot: Snapshot, sdtm: dict[str, Dataset], facts: pl.DataFrame) -> Dataset:
    from iliad7.standards.terminology import decode

    horizon = snapshot.protocol.osfd_window_days
    tte = derive.derive_tte_death(facts.drop("_DTHFL"), horizon_day=horizon)
    dm = {r["USUBJID"]: r for r in _rows(sdtm["DM"])}
    facts_by = {r["USUBJID"]: r for r in facts.to_dicts()}
    ds_death = {r["USUBJID"]: int(r["DSSEQ"]) for r in _rows(sdtm["DS"]) if r["DSDECOD"] == "DEATH"}
    rows = []
    for r in tte.to_dicts():
        d, f = dm[r["USUBJID"]], facts_by[r["USUBJID"]]
        event = r["CNSR"] == 0
        undated_death = not event and f["_DTHFL"] == "Y"
        description = (
            "DEATH"
            if event
            else "DEATH WITH NO RECORDED DATE: CENSORED AT LAST DAY KNOWN ALIVE"
            if undated_death
            else f"ALIVE: CENSORED AT DAY {int(r['AVAL'])}"
        )
        rows.append(
            {
                "STUDYID": d["STUDYID"],
                "USUBJID": r["USUBJID"],
                "PARAMCD": "TTDTH45",
                "PARAM": decode("PARAMCD_ADTTE", "TTDTH45"),
                "AVAL": r["AVAL"],
                "STARTDT": d["RFSTDTC"][:10],
                "CNSR": r["CNSR"],
                "EVNTDESC": description,
                "TRT01P": f["TRT01P"],
                "SRCDOM": "DM" if event else ("DS" if r["USUBJID"] in ds_death else "ADSL"),
                "SRCVAR": "DTHDTC" if event else ("DSSTDTC" if r["USUBJID"] in ds_death else "LSTALVDY"),
                "SRCSEQ": None if event or r["USUBJID"] not in ds_death else ds_death[r["USUBJID"]],
            }
        )
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
    V("AETERM", "Reported Term for the Adverse Event", origin="Predecessor", source="AE.AETERM"),
    V("AEDECOD", "Dictionary-Derived Term", origin="Predecessor", source="AE.AEDECOD"),
    V("AESER", "Serious Event", codelist="NY", origin="Predecessor", source="AE.AESER"),
    V("AETOXGR", "Standard Toxicity Grade", origin="Predecessor", source="AE.AETOXGR"),
    V("ATOXGRN", "Analysis Toxicity Grade (N)", "Num", origin="Derived", source="AE.AETOXGR"),
    V("ASTDY", "Analysis Start Day (Day 0 = Dose 1)", "Num", origin="Derived", source="AE.AESTDY"),
    V("TRTEMFL", "Treatment Emergent Analysis Flag", codelist="NY", origin="Derived"),
    V("TRT01A", "Actual Treatment for Period 01", codelist="TRT01P", origin="Predecessor", source="ADSL.TRT01A"),
    V("SRCDOM", "Source Data", origin="Derived"),
    V("SRCSEQ", "Source Sequence Number", "Num", origin="Derived"),
)


def build_adae(sdtm: dict[str, Dataset], adsl: Dataset) -> Dataset:
    """One record per adverse event, treatment-emergent when it starts on or after dose 1 (ASTDY >= 0)."""
    arms = {r["USUBJID"]: r["TRT01A"] for r in _rows(adsl)}
    rows = []
    for r in _rows(sdtm["AE"]):
        day = _protocol_day(r["AESTDY"])
        rows.append(
            {
                "STUDYID": r["STUDYID"],
                "USUBJID": r["USUBJID"],
                "AETERM": r["AETERM"],
                "AEDECOD": r["AEDECOD"],
                "AESER": r["AESER"],
                "AETOXGR": r["AETOXGR"],
                "ATOXGRN": int(r["AETOXGR"]) if r["AETOXGR"] else None,
                "ASTDY": day,
                "TRTEMFL": "" if day is None else ("Y" if day >= 0 else "N"),
                "TRT01A": arms.get(r["USUBJID"]),
                "SRCDOM": "AE",
                "SRCSEQ": int(r["AESEQ"]),
            }
        )
    return make_dataset(
        "ADAE",
        "Adverse Events Analysis Dataset",
        klass="OCCURRENCE DATA STRUCTURE",
        structure="One record per adverse event per subject",
        keys=("STUDYID", "USUBJID", "SRCSEQ"),
        variables=ADAE_VARS,
        rows=rows,
        standard="ADaM",
    )


def build_adam(snapshot: Snapshot, sdtm: dict[str, Dataset]) -> dict[str, Dataset]:
    """ADSL, ADLB, ADTTE, and ADAE when there are adverse events."""
    adsl, facts = build_adsl(snapshot, sdtm)
    built = {"ADSL": adsl, "ADLB": build_adlb(sdtm, facts), "ADTTE": build_adtte(snapshot, sdtm, facts)}
    if sdtm["AE"].frame.height:
        built["ADAE"] = build_adae(sdtm, adsl)
    return built
