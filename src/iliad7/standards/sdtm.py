"""SDTM (SDTMIG 3.3) tabulation datasets built from a guarded database snapshot.

Domains: trial design TS, TA, TE, TV, TI (from the protocol file); DM, DS, SV,
EX, LB, MB (SARS-CoV-2 viral load), VS, RS (NEWS2, SOFA, WHO Clinical
Progression Scale), HO (hospital and ICU stays), PR (organ support), AE.
Dates are ISO 8601 in the site's local time (no offset), --DY counts from
RFSTDTC (dose 1) with no day 0, --SEQ numbers each subject's records from 1.

Blinding (documented in docs/standards.md): for a user who may not read a
participant's arm, DM ARMCD/ACTARMCD are `BLINDED` and ARM/ACTARM `Blinded`,
and EX writes the masked treatment `CYT107 OR PLACEBO` with the injected
volume; no subject-level variable depends on the arm. The trial design
datasets (TA, TS) name the protocol's two arms, as the public protocol does.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import date, datetime
from typing import Any

from iliad7.standards.dataset import Dataset, Variable, make_dataset
from iliad7.standards.snapshot import FormRecord, Snapshot, Subject

SDTMIG_VERSION = "3.3"
BLINDED_ARMCD = "BLINDED"
BLINDED_ARM = "Blinded"
MASKED_TREATMENT = "CYT107 OR PLACEBO"
ARMCD = {"CYT107": "CYT107", "placebo": "PLACEBO"}

V = Variable
_ID = (
    V("STUDYID", "Study Identifier", role="Identifier"),
    V("DOMAIN", "Domain Abbreviation", role="Identifier"),
    V("USUBJID", "Unique Subject Identifier", role="Identifier"),
)


def _seq(domain: str) -> Variable:
    return V(f"{domain}SEQ", "Sequence Number", "Num", origin="Derived", role="Identifier")


def _visit() -> tuple[Variable, ...]:
    return (
        V("VISITNUM", "Visit Number", "Num", origin="Protocol", role="Timing"),
        V("VISIT", "Visit Name", origin="Protocol", role="Timing"),
        V("VISITDY", "Planned Study Day of Visit", "Num", origin="Protocol", role="Timing"),
    )


# ---- dates ----------------------------------------------------------------------------------------


def iso(subject: Subject, moment: datetime | date | str | None) -> str:
    """ISO 8601: a datetime in the site's local time to the second, a date as YYYY-MM-DD."""
    if moment is None or moment == "":
        return ""
    if isinstance(moment, str):
        try:
            moment = datetime.fromisoformat(moment) if "T" in moment else date.fromisoformat(moment)
        except ValueError:
            return ""
    if isinstance(moment, datetime):
        return subject.local(moment).isoformat(timespec="seconds")
    return moment.isoformat()


def study_day(subject: Subject, dtc: str) -> int | None:
    """SDTM --DY: day 1 is the date of RFSTDTC, the day before it is -1 (no day 0)."""
    start = subject.reference_start
    if not dtc or start is None:
        return None
    on = date.fromisoformat(dtc[:10])
    delta = (on - subject.local(start).date()).days
    return delta + 1 if delta >= 0 else delta


def _number(text: str) -> float | None:
    try:
        return float(text)
    except (TypeError, ValueError):
        return None


class _Visits:
    def __init__(self, snapshot: Snapshot) -> None:
        visits = snapshot.protocol.schedule.visits
        self.by_id = {v.id: (index, v) for index, v in enumerate(visits, start=1)}
        self.by_dose = {v.dose: v.id for v in visits if v.dose}

    def columns(self, visit_id: str) -> dict[str, Any]:
        if visit_id not in self.by_id:
            return {"VISITNUM": None, "VISIT": "", "VISITDY": None}
        number, visit = self.by_id[visit_id]
        return {"VISITNUM": number, "VISIT": visit.name.upper(), "VISITDY": _visitdy(visit.target_day)}


def _visitdy(target_day: int) -> int:
    """The protocol's day (0 = dose 1) on the SDTM scale (1 = dose 1)."""
    return target_day + 1 if target_day >= 0 else target_day


def _sequenced(domain: str, rows: list[dict[str, Any]], order: Callable[[dict[str, Any]], Any]) -> list[dict[str, Any]]:
    rows.sort(key=lambda r: (r["USUBJID"], order(r)))
    counter: dict[str, int] = {}
    for row in rows:
        counter[row["USUBJID"]] = counter.get(row["USUBJID"], 0) + 1
        row[f"{domain}SEQ"] = counter[row["USUBJID"]]
    return rows


def _base(snapshot: Snapshot, subject: Subject, domain: str) -> dict[str, Any]:
    return {"STUDYID": snapshot.protocol.id, "DOMAIN": domain, "USUBJID": subject.usubjid}


# ---- special purpose: DM -----------------------------------------------------------------------------

DM_VARS = (
    *_ID,
    V("SUBJID", "Subject Identifier for the Study", role="Topic"),
    V("RFSTDTC", "Subject Reference Start Date/Time", origin="Derived", role="Record Qualifier"),
    V("RFENDTC", "Subject Reference End Date/Time", origin="Derived", role="Record Qualifier"),
    V("RFXSTDTC", "Date/Time of First Study Treatment", origin="Derived", role="Record Qualifier"),
    V("RFXENDTC", "Date/Time of Last Study Treatment", origin="Derived", role="Record Qualifier"),
    V("RFICDTC", "Date/Time of Informed Consent", origin="Derived", role="Record Qualifier"),
    V("RFPENDTC", "Date/Time of End of Participation", origin="Derived", role="Record Qualifier"),
    V("DTHDTC", "Date/Time of Death", origin="Derived", role="Record Qualifier"),
    V("DTHFL", "Subject Death Flag", codelist="NY", origin="Derived", role="Record Qualifier"),
    V("SITEID", "Study Site Identifier", codelist="SITEID", role="Record Qualifier"),
    V("AGE", "Age", "Num", origin="Derived", role="Record Qualifier"),
    V("AGEU", "Age Units", codelist="AGEU", origin="Assigned", role="Variable Qualifier"),
    V("SEX", "Sex", codelist="SEX", role="Record Qualifier"),
    V("ARMCD", "Planned Arm Code", codelist="ARMCD", origin="Assigned", role="Record Qualifier"),
    V("ARM", "Description of Planned Arm", origin="Assigned", role="Synonym Qualifier"),
    V("ACTARMCD", "Actual Arm Code", codelist="ARMCD", origin="Assigned", role="Record Qualifier"),
    V("ACTARM", "Description of Actual Arm", origin="Assigned", role="Synonym Qualifier"),
    V("COUNTRY", "Country", codelist="COUNTRY", origin="Assigned", role="Record Qualifier"),
)


def _death_dtc(subject: Subject) -> str:
    for record in subject.forms_of("DEATH"):
        if record.get("death_date"):
            return iso(subject, record.get("death_date"))
    return ""


def _end_dtc(subject: Subject) -> str:
    for record in subject.forms_of("END-OF-STUDY"):
        if record.get("end_date"):
            return iso(subject, record.get("end_date"))
    return _death_dtc(subject)


def arm_columns(snapshot: Snapshot, subject: Subject) -> dict[str, str]:
    """DM's arm variables: the arm for a user who may read it, the blinded placeholder otherwise."""
    if subject.arm is None:
        return {"ARMCD": BLINDED_ARMCD, "ARM": BLINDED_ARM, "ACTARMCD": BLINDED_ARMCD, "ACTARM": BLINDED_ARM}
    arm = snapshot.protocol.arm(subject.arm)
    planned = {"ARMCD": ARMCD[subject.arm], "ARM": arm.label}
    # Actual arm: the kits given are the allocated arm's; a participant never dosed has no actual arm.
    if subject.doses:
        return {**planned, "ACTARMCD": planned["ARMCD"], "ACTARM": planned["ARM"]}
    return {**planned, "ACTARMCD": "NOTTRT", "ACTARM": "Not Treated"}


def build_dm(snapshot: Snapshot) -> Dataset:
    rows = []
    for s in snapshot.subjects:
        sex = {"male": "M", "female": "F"}.get(str(s.screening.get("sex", "")).lower(), "U")
        rows.append(
            {
                **_base(snapshot, s, "DM"),
                "SUBJID": s.usubjid.removeprefix(snapshot.protocol.id + "-"),
                "RFSTDTC": iso(s, s.doses[0].given_at) if s.doses else "",
                "RFENDTC": _end_dtc(s),
                "RFXSTDTC": iso(s, s.doses[0].given_at) if s.doses else "",
                "RFXENDTC": iso(s, s.doses[-1].given_at) if s.doses else "",
                "RFICDTC": iso(s, min(s.consents)) if s.consents else "",
                "RFPENDTC": _end_dtc(s),
                "DTHDTC": _death_dtc(s),
                "DTHFL": "Y" if s.status == "died" else "",
                "SITEID": s.site,
                "AGE": s.age(),
                "AGEU": "YEARS" if s.age() is not None else "",
                "SEX": sex,
                **arm_columns(snapshot, s),
                "COUNTRY": "USA",
            }
        )
    return make_dataset(
        "DM",
        "Demographics",
        klass="SPECIAL PURPOSE",
        structure="One record per subject",
        keys=("STUDYID", "USUBJID"),
        variables=DM_VARS,
        rows=rows,
    )


# ---- events: DS, AE, HO ---------------------------------------------------------------------------

DS_VARS = (
    *_ID,
    _seq("DS"),
    V("DSTERM", "Reported Term for the Disposition Event", role="Topic"),
    V("DSDECOD", "Standardized Disposition Term", codelist="NCOMPLT", origin="Assigned", role="Synonym Qualifier"),
    V("DSCAT", "Category for Disposition Event", codelist="DSCAT", origin="Assigned", role="Grouping Qualifier"),
    V("EPOCH", "Epoch", codelist="EPOCH", origin="Assigned", role="Timing"),
    V("DSSTDTC", "Start Date/Time of Disposition Event", role="Timing"),
    V("DSSTDY", "Study Day of Start of Disposition Event", "Num", origin="Derived", role="Timing"),
)
_DISPOSITION = {
    "completed": ("COMPLETED", "COMPLETED"),
    "died": ("DEATH", "DEATH"),
    "withdrawn": ("WITHDRAWAL BY SUBJECT", "WITHDRAWAL BY SUBJECT"),
    "lost_to_follow_up": ("LOST TO FOLLOW-UP", "LOST TO FOLLOW-UP"),
}
_END_STATUS = {
    "completed": "COMPLETED",
    "withdrew_consent": "WITHDRAWAL BY SUBJECT",
    "withdrawn_by_investigator": "PHYSICIAN DECISION",
    "lost_to_follow_up": "LOST TO FOLLOW-UP",
    "died": "DEATH",
}


def build_ds(snapshot: Snapshot) -> Dataset:
    rows: list[dict[str, Any]] = []
    for s in snapshot.subjects:
        base = _base(snapshot, s, "DS")
        if s.consents:
            dtc = iso(s, min(s.consents))
            rows.append(
                {
                    **base,
                    "DSTERM": "INFORMED CONSENT OBTAINED",
                    "DSDECOD": "INFORMED CONSENT OBTAINED",
                    "DSCAT": "PROTOCOL MILESTONE",
                    "EPOCH": "SCREENING",
                    "DSSTDTC": dtc,
                }
            )
        if s.randomized_at is not None:
            rows.append(
                {
                    **base,
                    "DSTERM": "RANDOMIZED",
                    "DSDECOD": "RANDOMIZED",
                    "DSCAT": "PROTOCOL MILESTONE",
                    "EPOCH": "SCREENING",
                    "DSSTDTC": iso(s, s.randomized_at),
                }
            )
        decod = None
        for record in s.forms_of("END-OF-STUDY"):
            decod = _END_STATUS.get(record.get("end_status"))
        if decod is None and s.status in _DISPOSITION:
            decod = _DISPOSITION[s.status][1]
        if decod is not None:
            rows.append(
                {
                    **base,
                    "DSTERM": decod,
                    "DSDECOD": decod,
                    "DSCAT": "DISPOSITION EVENT",
                    "EPOCH": "FOLLOW-UP",
                    "DSSTDTC": _end_dtc(s),
                }
            )
    for row in rows:
        subject = next(s for s in snapshot.subjects if s.usubjid == row["USUBJID"])
        row["DSSTDY"] = study_day(subject, row["DSSTDTC"])
    order = {"INFORMED CONSENT OBTAINED": 0, "RANDOMIZED": 1}
    rows = _sequenced("DS", rows, lambda r: order.get(r["DSDECOD"], 2))
    return make_dataset(
        "DS",
        "Disposition",
        klass="EVENTS",
        structure="One record per disposition status or protocol milestone per subject",
        keys=("STUDYID", "USUBJID", "DSDECOD", "DSSTDTC"),
        variables=DS_VARS,
        rows=rows,
    )


AE_VARS = (
    *_ID,
    _seq("AE"),
    V("AETERM", "Reported Term for the Adverse Event", role="Topic"),
    V("AEDECOD", "Dictionary-Derived Term", origin="Assigned", role="Synonym Qualifier"),
    V("AESER", "Serious Event", codelist="NY", role="Record Qualifier"),
    V("AEREL", "Causality", role="Record Qualifier"),
    V("AEOUT", "Outcome of Adverse Event", codelist="OUT", role="Record Qualifier"),
    V("AESDTH", "Results in Death", codelist="NY", role="Record Qualifier"),
    V("AESLIFE", "Is Life Threatening", codelist="NY", role="Record Qualifier"),
    V("AESHOSP", "Requires or Prolongs Hospitalization", codelist="NY", role="Record Qualifier"),
    V("AETOXGR", "Standard Toxicity Grade", codelist="TOXGR", role="Record Qualifier"),
    V("AESTDTC", "Start Date/Time of Adverse Event", role="Timing"),
    V("AEENDTC", "End Date/Time of Adverse Event", role="Timing"),
    V("AESTDY", "Study Day of Start of Adverse Event", "Num", origin="Derived", role="Timing"),
)
_OUTCOME = {
    "recovered": "RECOVERED/RESOLVED",
    "recovering": "RECOVERING/RESOLVING",
    "not_recovered": "NOT RECOVERED/NOT RESOLVED",
    "recovered_with_sequelae": "RECOVERED/RESOLVED WITH SEQUELAE",
    "fatal": "FATAL",
    "unknown": "UNKNOWN",
}


def _yn(text: str) -> str:
    return {"true": "Y", "false": "N"}.get(str(text).lower(), "")


def build_ae(snapshot: Snapshot) -> Dataset:
    rows = []
    for s in snapshot.subjects:
        for r in s.forms_of("ADVERSE-EVENT"):
            start = iso(s, r.get("onset_date"))
            rows.append(
                {
                    **_base(snapshot, s, "AE"),
                    "AETERM": r.get("term"),
                    "AEDECOD": r.get("term").upper(),
                    "AESER": _yn(r.get("serious")),
                    "AEREL": r.get("relatedness").upper().replace("_", " "),
                    "AEOUT": _OUTCOME.get(r.get("outcome"), ""),
                    "AESDTH": _yn(r.get("sae_death")),
                    "AESLIFE": _yn(r.get("sae_life_threatening")),
                    "AESHOSP": _yn(r.get("sae_hospitalization")),
                    "AETOXGR": r.get("grade"),
                    "AESTDTC": start,
                    "AEENDTC": iso(s, r.get("stop_date")),
                    "AESTDY": study_day(s, start),
                    "_i": r.instance,
                }
            )
    rows = _sequenced("AE", rows, lambda r: (r["AESTDTC"], r["_i"]))
    return make_dataset(
        "AE",
        "Adverse Events",
        klass="EVENTS",
        structure="One record per adverse event per subject",
        keys=("STUDYID", "USUBJID", "AEDECOD", "AESTDTC"),
        variables=AE_VARS,
        rows=rows,
    )


HO_VARS = (
    *_ID,
    _seq("HO"),
    V("HOTERM", "Healthcare Encounter Term", role="Topic"),
    V("HODECOD", "Dictionary-Derived Term", origin="Assigned", role="Synonym Qualifier"),
    V("HOCAT", "Category for Healthcare Encounter", origin="Assigned", role="Grouping Qualifier"),
    V("HOSTDTC", "Start Date/Time of Healthcare Encounter", role="Timing"),
    V("HOENDTC", "End Date/Time of Healthcare Encounter", role="Timing"),
    V("HOSTDY", "Study Day of Start of Encounter", "Num", origin="Derived", role="Timing"),
    V("HOENDY", "Study Day of End of Encounter", "Num", origin="Derived", role="Timing"),
)


def build_ho(snapshot: Snapshot) -> Dataset:
    rows = []
    for s in snapshot.subjects:
        for r in s.forms_of("HOSPITAL-STAY"):
            term = {"hospital": "HOSPITAL", "icu": "INTENSIVE CARE UNIT"}.get(
                r.get("stay_type"), r.get("stay_type").upper()
            )
            start, end = iso(s, r.get("admitted_at")), iso(s, r.get("discharged_at"))
            rows.append(
                {
                    **_base(snapshot, s, "HO"),
                    "HOTERM": term,
                    "HODECOD": term,
                    "HOCAT": "READMISSION" if _yn(r.get("readmission")) == "Y" else "ADMISSION",
                    "HOSTDTC": start,
                    "HOENDTC": end,
                    "HOSTDY": study_day(s, start),
                    "HOENDY": study_day(s, end),
                }
            )
    rows = _sequenced("HO", rows, lambda r: (r["HOSTDTC"], r["HOTERM"]))
    return make_dataset(
        "HO",
        "Healthcare Encounters",
        klass="EVENTS",
        structure="One record per healthcare encounter per subject",
        keys=("STUDYID", "USUBJID", "HOTERM", "HOSTDTC"),
        variables=HO_VARS,
        rows=rows,
    )


# ---- interventions: EX, PR ------------------------------------------------------------------------

EX_VARS = (
    *_ID,
    _seq("EX"),
    V("EXTRT", "Name of Treatment", origin="Assigned", role="Topic"),
    V("EXDOSE", "Dose", "Num", role="Record Qualifier"),
    V("EXDOSU", "Dose Units", codelist="UNIT", origin="Assigned", role="Variable Qualifier"),
    V("EXDOSFRM", "Dose Form", origin="Assigned", role="Variable Qualifier"),
    V("EXROUTE", "Route of Administration", codelist="ROUTE", origin="Protocol", role="Variable Qualifier"),
    V("EXLOC", "Location of Dose Administration", role="Record Qualifier"),
    *_visit(),
    V("EPOCH", "Epoch", codelist="EPOCH", origin="Assigned", role="Timing"),
    V("EXSTDTC", "Start Date/Time of Treatment", role="Timing"),
    V("EXENDTC", "End Date/Time of Treatment", role="Timing"),
    V("EXSTDY", "Study Day of Start of Treatment", "Num", origin="Derived", role="Timing"),
)


def exposure(subject: Subject, volume_ml: float, dose_ug: int) -> tuple[str, float, str]:
    """(EXTRT, EXDOSE, EXDOSU): masked with the volume for a blinded export, the arm's dose otherwise."""
    if subject.arm is None:
        return MASKED_TREATMENT, volume_ml, "mL"
    if subject.arm == "CYT107":
        return "CYT107", float(dose_ug), "ug"
    return "PLACEBO", 0.0, "ug"


def build_ex(snapshot: Snapshot) -> Dataset:
    visits = _Visits(snapshot)
    rows = []
    for s in snapshot.subjects:
        for d in s.doses:
            treatment, dose, unit = exposure(s, d.volume_ml, d.dose_ug)
            dtc = iso(s, d.given_at)
            rows.append(
                {
                    **_base(snapshot, s, "EX"),
                    "EXTRT": treatment,
                    "EXDOSE": dose,
                    "EXDOSU": unit,
                    "EXDOSFRM": "INJECTION",
                    "EXROUTE": "INTRAMUSCULAR",
                    "EXLOC": d.injection_site.upper(),
                    **visits.columns(visits.by_dose.get(d.number, "")),
                    "EPOCH": "TREATMENT",
                    "EXSTDTC": dtc,
                    "EXENDTC": dtc,
                    "EXSTDY": study_day(s, dtc),
                    "_n": d.number,
                }
            )
    rows = _sequenced("EX", rows, lambda r: r["_n"])
    return make_dataset(
        "EX",
        "Exposure",
        klass="INTERVENTIONS",
        structure="One record per administration per subject",
        keys=("STUDYID", "USUBJID", "EXTRT", "EXSTDTC"),
        variables=EX_VARS,
        rows=rows,
    )


PR_VARS = (
    *_ID,
    _seq("PR"),
    V("PRTRT", "Reported Name of Procedure", role="Topic"),
    V("PRCAT", "Category", origin="Assigned", role="Grouping Qualifier"),
    V("PRSTDTC", "Start Date/Time of Procedure", role="Timing"),
    V("PRENDTC", "End Date/Time of Procedure", role="Timing"),
    V("PRSTDY", "Study Day of Start of Procedure", "Num", origin="Derived", role="Timing"),
    V("PRENDY", "Study Day of End of Procedure", "Num", origin="Derived", role="Timing"),
)
_SUPPORT = {
    "high_flow_oxygen": ("HIGH-FLOW OXYGEN", "RESPIRATORY SUPPORT"),
    "niv": ("NON-INVASIVE VENTILATION", "RESPIRATORY SUPPORT"),
    "invasive_ventilation": ("INVASIVE MECHANICAL VENTILATION", "RESPIRATORY SUPPORT"),
    "ecmo": ("EXTRACORPOREAL MEMBRANE OXYGENATION", "RESPIRATORY SUPPORT"),
    "vasopressors": ("VASOPRESSOR THERAPY", "CARDIOVASCULAR SUPPORT"),
    "inotropes": ("INOTROPE THERAPY", "CARDIOVASCULAR SUPPORT"),
    "renal_replacement": ("RENAL REPLACEMENT THERAPY", "RENAL SUPPORT"),
}


def build_pr(snapshot: Snapshot) -> Dataset:
    rows = []
    for s in snapshot.subjects:
        for r in s.forms_of("ORGAN-SUPPORT"):
            term, category = _SUPPORT.get(r.get("support_type"), (r.get("support_type").upper(), "ORGAN SUPPORT"))
            start, end = iso(s, r.get("started_at")), iso(s, r.get("stopped_at"))
            rows.append(
                {
                    **_base(snapshot, s, "PR"),
                    "PRTRT": term,
                    "PRCAT": category,
                    "PRSTDTC": start,
                    "PRENDTC": end,
                    "PRSTDY": study_day(s, start),
                    "PRENDY": study_day(s, end),
                }
            )
    rows = _sequenced("PR", rows, lambda r: (r["PRSTDTC"], r["PRTRT"]))
    return make_dataset(
        "PR",
        "Procedures",
        klass="INTERVENTIONS",
        structure="One record per organ-support episode per subject",
        keys=("STUDYID", "USUBJID", "PRTRT", "PRSTDTC"),
        variables=PR_VARS,
        rows=rows,
    )


# ---- findings: LB, MB, VS, RS --------------------------------------------------------------------------


def _findings_vars(
    d: str, *, loinc: bool = False, tstdtl: bool = False, ranges: bool = False, blfl: bool = True
) -> tuple[Variable, ...]:
    testcd_cl = {"LB": "LBTESTCD", "VS": "VSTESTCD", "MB": "MBTESTCD", "RS": "RSTESTCD"}[d]
    return tuple(
        v
        for v in (
            *_ID,
            _seq(d),
            V(f"{d}TESTCD", "Short Name of Test", codelist=testcd_cl, origin="Assigned", role="Topic"),
            V(f"{d}TEST", "Name of Test", origin="Assigned", role="Synonym Qualifier"),
            V(f"{d}TSTDTL", "Test Detail", origin="Assigned", role="Variable Qualifier") if tstdtl else None,
            V(f"{d}CAT", "Category", origin="Assigned", role="Grouping Qualifier"),
            V(f"{d}ORRES", "Result or Finding in Original Units", role="Result Qualifier"),
            V(f"{d}ORRESU", "Original Units", role="Variable Qualifier"),
            V(f"{d}ORNRLO", "Normal Range Lower Limit-Original Units", role="Variable Qualifier") if ranges else None,
            V(f"{d}ORNRHI", "Normal Range Upper Limit-Original Units", role="Variable Qualifier") if ranges else None,
            V(f"{d}STRESC", "Result or Finding in Standard Format", origin="Derived", role="Result Qualifier"),
            V(
                f"{d}STRESN",
                "Numeric Result/Finding in Standard Units",
                "Num",
                origin="Derived",
                role="Result Qualifier",
            ),
            V(
                f"{d}STRESU",
                "Standard Units",
                codelist="UNIT" if d in ("LB", "VS") else None,
                origin="Derived",
                role="Variable Qualifier",
            ),
            V(f"{d}LOINC", "LOINC Code", origin="Assigned", role="Synonym Qualifier") if loinc else None,
            V(f"{d}BLFL", "Baseline Flag", codelist="NY", origin="Derived", role="Record Qualifier") if blfl else None,
            *_visit(),
            V(f"{d}DTC", "Date/Time of Collection" if d != "RS" else "Date/Time of Assessment", role="Timing"),
            V(
                f"{d}DY",
                "Study Day of Collection" if d != "RS" else "Study Day of Assessment",
                "Num",
                origin="Derived",
                role="Timing",
            ),
        )
        if v is not None
    )


# LB: form item -> (LBTESTCD, LBTEST, LOINC, standard unit, {original unit: factor to the standard unit})
_CELLS = {
    "cells/mm3": 0.001,
    "cells/uL": 0.001,
    "/uL": 0.001,
    "/mm3": 0.001,
    "10^9/L": 1.0,
    "10^3/uL": 1.0,
    "x10^9/L": 1.0,
}
LAB_TESTS: dict[str, tuple[str, str, str, str, dict[str, float]]] = {
    "alc": ("LYM", "Lymphocytes", "731-0", "10^9/L", _CELLS),
    "cd4": ("CD4", "CD4 Cells", "24467-3", "10^9/L", _CELLS),
    "cd8": ("CD8", "CD8 Cells", "14135-8", "10^9/L", _CELLS),
    "wbc": ("WBC", "Leukocytes", "6690-2", "10^9/L", _CELLS),
    "neutrophils": ("NEUT", "Neutrophils", "751-8", "10^9/L", _CELLS),
    "platelets": ("PLAT", "Platelets", "777-3", "10^9/L", _CELLS),
    "hemoglobin": ("HGB", "Hemoglobin", "718-7", "g/dL", {"g/dL": 1.0, "g/L": 0.1}),
    "alt": ("ALT", "Alanine Aminotransferase", "1742-6", "U/L", {"U/L": 1.0}),
    "ast": ("AST", "Aspartate Aminotransferase", "1920-8", "U/L", {"U/L": 1.0}),
    "bilirubin": ("BILI", "Bilirubin", "1975-2", "mg/dL", {"mg/dL": 1.0, "umol/L": 1 / 17.1}),
    "creatinine": ("CREAT", "Creatinine", "2160-0", "mg/dL", {"mg/dL": 1.0, "umol/L": 1 / 88.4}),
    "ferritin": ("FERRITIN", "Ferritin", "2276-4", "ng/mL", {"ng/mL": 1.0}),
    "crp": ("CRP", "C Reactive Protein", "1988-5", "mg/L", {"mg/L": 1.0}),
    "d_dimer": ("DDIMER", "D-Dimer", "48065-7", "ug/L", {"ug/L FEU": 1.0}),
}
_LAB_LIMITS = {"lln": "ORNRLO", "uln": "ORNRHI"}


def _standard(value: str, unit: str, factors: dict[str, float]) -> float | None:
    number = _number(value)
    if number is None or unit not in factors:
        return None
    return round(number * factors[unit], 6)


def _collected(s: Subject, r: FormRecord, item: str) -> str:
    return iso(s, r.get(item)) if r.get(item) else ""


def build_lb(snapshot: Snapshot) -> Dataset:
    visits = _Visits(snapshot)
    rows = []
    for s in snapshot.subjects:
        for r in s.forms_of("LAB"):
            dtc = _collected(s, r, "collected_at")
            for item, (value, unit) in r.values.items():
                if item not in LAB_TESTS or value == "":
                    continue
                testcd, test, loinc, std_unit, factors = LAB_TESTS[item]
                standard = _standard(value, unit, factors)
                rows.append(
                    {
                        **_base(snapshot, s, "LB"),
                        "LBTESTCD": testcd,
                        "LBTEST": test,
                        "LBTSTDTL": "FIBRINOGEN EQUIVALENT UNITS" if item == "d_dimer" else "",
                        "LBCAT": "HEMATOLOGY" if std_unit == "10^9/L" or testcd == "HGB" else "CHEMISTRY",
                        "LBORRES": value,
                        "LBORRESU": unit,
                        "LBORNRLO": r.get(f"{item}_lln"),
                        "LBORNRHI": r.get(f"{item}_uln"),
                        "LBSTRESC": "" if standard is None else f"{standard:g}",
                        "LBSTRESN": standard,
                        "LBSTRESU": std_unit if standard is not None else "",
                        "LBLOINC": loinc,
                        "LBBLFL": "Y" if r.visit == "BASELINE" else "",
                        **visits.columns(r.visit),
                        "LBDTC": dtc,
                        "LBDY": study_day(s, dtc),
                    }
                )
    rows = _sequenced("LB", rows, lambda r: (r["VISITNUM"] or 0, r["LBDTC"], r["LBTESTCD"]))
    return make_dataset(
        "LB",
        "Laboratory Test Results",
        klass="FINDINGS",
        structure="One record per lab test per visit per subject",
        keys=("STUDYID", "USUBJID", "LBTESTCD", "VISITNUM", "LBDTC"),
        variables=_findings_vars("LB", loinc=True, tstdtl=True, ranges=True),
        rows=rows,
    )


def build_mb(snapshot: Snapshot) -> Dataset:
    visits = _Visits(snapshot)
    rows = []
    for s in snapshot.subjects:
        for r in s.forms_of("VIRAL-LOAD"):
            dtc = _collected(s, r, "collected_at")
            results: list[tuple[str, str, str, float | None]] = []
            if r.get("detected"):
                results.append(("DETECTION", "POSITIVE" if _yn(r.get("detected")) == "Y" else "NEGATIVE", "", None))
            if r.get("ct_value"):
                results.append(("CYCLE THRESHOLD", r.get("ct_value"), "", _number(r.get("ct_value"))))
            if r.get("log10_copies_per_ml"):
                value = r.get("log10_copies_per_ml")
                results.append(
                    ("VIRAL LOAD", value, r.unit("log10_copies_per_ml") or "log10 copies/mL", _number(value))
                )
            for detail, value, unit, number in results:
                rows.append(
                    {
                        **_base(snapshot, s, "MB"),
                        "MBTESTCD": "SARSCOV2",
                        "MBTEST": "SARS-CoV-2",
                        "MBTSTDTL": detail,
                        "MBCAT": "VIROLOGY",
                        "MBORRES": value,
                        "MBORRESU": unit,
                        "MBSTRESC": value if number is None else f"{number:g}",
                        "MBSTRESN": number,
                        "MBSTRESU": unit,
                        "MBLOINC": "94745-7" if detail == "CYCLE THRESHOLD" else "",
                        "MBBLFL": "Y" if r.visit == "BASELINE" else "",
                        **visits.columns(r.visit),
                        "MBDTC": dtc,
                        "MBDY": study_day(s, dtc),
                    }
                )
    rows = _sequenced("MB", rows, lambda r: (r["VISITNUM"] or 0, r["MBDTC"], r["MBTSTDTL"]))
    return make_dataset(
        "MB",
        "Microbiology Specimen",
        klass="FINDINGS",
        structure="One record per microbiology test per visit per subject",
        keys=("STUDYID", "USUBJID", "MBTESTCD", "MBTSTDTL", "VISITNUM"),
        variables=_findings_vars("MB", loinc=True, tstdtl=True),
        rows=rows,
    )


# VS: form item -> (VSTESTCD, VSTEST, standard unit, {entered unit: factor})
VITAL_TESTS: dict[str, tuple[str, str, str, dict[str, float]]] = {
    "systolic_bp": ("SYSBP", "Systolic Blood Pressure", "mmHg", {"mmHg": 1.0, "": 1.0}),
    "diastolic_bp": ("DIABP", "Diastolic Blood Pressure", "mmHg", {"mmHg": 1.0, "": 1.0}),
    "pulse": ("PULSE", "Pulse Rate", "beats/min", {"/min": 1.0, "": 1.0}),
    "respiratory_rate": ("RESP", "Respiratory Rate", "breaths/min", {"/min": 1.0, "": 1.0}),
    "temperature": ("TEMP", "Temperature", "C", {"degC": 1.0, "": 1.0}),
    "spo2": ("OXYSAT", "Oxygen Saturation", "%", {"%": 1.0, "": 1.0}),
}


def build_vs(snapshot: Snapshot) -> Dataset:
    visits = _Visits(snapshot)
    rows = []
    for s in snapshot.subjects:
        for r in s.forms_of("VITALS"):
            dtc = _collected(s, r, "assessed_at")
            for item, (testcd, test, std_unit, factors) in VITAL_TESTS.items():
                value, unit = r.values.get(item, ("", ""))
                if value == "":
                    continue
                standard = _standard(value, unit, factors)
                rows.append(
                    {
                        **_base(snapshot, s, "VS"),
                        "VSTESTCD": testcd,
                        "VSTEST": test,
                        "VSCAT": "",
                        "VSORRES": value,
                        "VSORRESU": unit,
                        "VSSTRESC": "" if standard is None else f"{standard:g}",
                        "VSSTRESN": standard,
                        "VSSTRESU": std_unit if standard is not None else "",
                        "VSBLFL": "Y" if r.visit == "BASELINE" else "",
                        **visits.columns(r.visit),
                        "VSDTC": dtc,
                        "VSDY": study_day(s, dtc),
                        "_i": r.instance,
                    }
                )
    rows = _sequenced("VS", rows, lambda r: (r["VSDTC"], r["_i"], r["VSTESTCD"]))
    return make_dataset(
        "VS",
        "Vital Signs",
        klass="FINDINGS",
        structure="One record per vital sign measurement per time point per subject",
        keys=("STUDYID", "USUBJID", "VSTESTCD", "VSDTC"),
        variables=_findings_vars("VS"),
        rows=rows,
    )


# RS: (form, derived item, date item) -> (RSTESTCD, RSTEST, RSCAT)
SCALES = (
    ("VITALS", "news2", "assessed_at", "NEWS2TOT", "NEWS2 Total Score", "NEWS2"),
    ("SOFA", "sofa", "assessed_on", "SOFATOT", "SOFA Total Score", "SOFA"),
    (
        "CLINICAL-STATUS",
        "who_scale",
        "assessed_on",
        "WHOCPS",
        "WHO Clinical Progression Scale",
        "WHO CLINICAL PROGRESSION SCALE",
    ),
)


def build_rs(snapshot: Snapshot) -> Dataset:
    visits = _Visits(snapshot)
    rows = []
    for s in snapshot.subjects:
        for form, item, date_item, testcd, test, category in SCALES:
            for r in s.forms_of(form):
                value = r.get(item)
                if value == "":
                    continue
                dtc = _collected(s, r, date_item)
                rows.append(
                    {
                        **_base(snapshot, s, "RS"),
                        "RSTESTCD": testcd,
                        "RSTEST": test,
                        "RSCAT": category,
                        "RSORRES": value,
                        "RSORRESU": "",
                        "RSSTRESC": value,
                        "RSSTRESN": _number(value),
                        "RSSTRESU": "",
                        "RSBLFL": "Y" if r.visit == "BASELINE" else "",
                        **visits.columns(r.visit),
                        "RSDTC": dtc,
                        "RSDY": study_day(s, dtc),
                        "_i": r.instance,
                    }
                )
    rows = _sequenced("RS", rows, lambda r: (r["RSCAT"], r["RSDTC"], r["_i"]))
    return make_dataset(
        "RS",
        "Disease Response and Clin Classification",
        klass="FINDINGS",
        structure="One record per clinical classification assessment per time point per subject",
        keys=("STUDYID", "USUBJID", "RSTESTCD", "RSDTC"),
        variables=_findings_vars("RS"),
        rows=rows,
    )


# ---- SV ----------------------------------------------------------------------------------------------

SV_VARS = (
    *_ID,
    *_visit(),
    V("SVSTDTC", "Start Date/Time of Visit", origin="Derived", role="Timing"),
    V("SVENDTC", "End Date/Time of Visit", origin="Derived", role="Timing"),
    V("SVSTDY", "Study Day of Start of Visit", "Num", origin="Derived", role="Timing"),
)


def build_sv(snapshot: Snapshot) -> Dataset:
    """One record per visit with data: a dose given, or a form filled at that visit."""
    visits = _Visits(snapshot)
    rows = []
    for s in snapshot.subjects:
        dates: dict[str, list[str]] = {}
        for d in s.doses:
            visit = visits.by_dose.get(d.number)
            if visit:
                dates.setdefault(visit, []).append(iso(s, d.given_at))
        for r in s.forms:
            if r.visit in visits.by_id:
                stamp = r.get("collected_at") or r.get("assessed_at") or r.get("assessed_on")
                dates.setdefault(r.visit, []).extend([iso(s, stamp)] if stamp else [])
        for visit, stamps in dates.items():
            start, end = (min(stamps), max(stamps)) if stamps else ("", "")
            rows.append(
                {
                    **_base(snapshot, s, "SV"),
                    **visits.columns(visit),
                    "SVSTDTC": start,
                    "SVENDTC": end,
                    "SVSTDY": study_day(s, start),
                }
            )
    rows.sort(key=lambda r: (r["USUBJID"], r["VISITNUM"]))
    return make_dataset(
        "SV",
        "Subject Visits",
        klass="SPECIAL PURPOSE",
        structure="One record per subject per actual visit",
        keys=("STUDYID", "USUBJID", "VISITNUM"),
        variables=SV_VARS,
        rows=rows,
    )


# ---- trial design: TS, TA, TE, TV, TI -----------------------------------------------------------------

ELEMENTS = (
    ("SCRN", "Screening", "Informed consent", "Randomization", "SCREENING"),
    ("CYT107", "CYT107", "First dose of CYT107", "Day 21 or discharge (last possible dose)", "TREATMENT"),
    ("PBO", "Placebo", "First dose of placebo", "Day 21 or discharge (last possible dose)", "TREATMENT"),
    ("FU", "Follow-up", "End of the treatment element", "Day 45 follow-up, death or withdrawal", "FOLLOW-UP"),
)
_ARM_ELEMENT = {"CYT107": "CYT107", "placebo": "PBO"}


def build_te(snapshot: Snapshot) -> Dataset:
    rows = [
        {
            "STUDYID": snapshot.protocol.id,
            "DOMAIN": "TE",
            "ETCD": etcd,
            "ELEMENT": element,
            "TESTRL": start,
            "TEENRL": end,
        }
        for etcd, element, start, end, _ in ELEMENTS
    ]
    variables = (
        V("STUDYID", "Study Identifier", role="Identifier"),
        V("DOMAIN", "Domain Abbreviation", role="Identifier"),
        V("ETCD", "Element Code", origin="Protocol", role="Topic"),
        V("ELEMENT", "Description of Element", origin="Protocol", role="Synonym Qualifier"),
        V("TESTRL", "Rule for Start of Element", origin="Protocol", role="Rule"),
        V("TEENRL", "Rule for End of Element", origin="Protocol", role="Rule"),
    )
    return make_dataset(
        "TE",
        "Trial Elements",
        klass="TRIAL DESIGN",
        structure="One record per planned Element",
        keys=("STUDYID", "ETCD"),
        variables=variables,
        rows=rows,
    )


def build_ta(snapshot: Snapshot) -> Dataset:
    epochs = {etcd: (element, epoch) for etcd, element, _, _, epoch in ELEMENTS}
    rows = []
    for arm in snapshot.protocol.arms:
        for order, etcd in enumerate(("SCRN", _ARM_ELEMENT[arm.code], "FU"), start=1):
            rows.append(
                {
                    "STUDYID": snapshot.protocol.id,
                    "DOMAIN": "TA",
                    "ARMCD": ARMCD[arm.code],
                    "ARM": arm.label,
                    "TAETORD": order,
                    "ETCD": etcd,
                    "ELEMENT": epochs[etcd][0],
                    "TABRANCH": "Randomized to " + arm.label if order == 1 else "",
                    "EPOCH": epochs[etcd][1],
                }
            )
    variables = (
        V("STUDYID", "Study Identifier", role="Identifier"),
        V("DOMAIN", "Domain Abbreviation", role="Identifier"),
        V("ARMCD", "Planned Arm Code", codelist="ARMCD", origin="Protocol", role="Topic"),
        V("ARM", "Description of Planned Arm", origin="Protocol", role="Synonym Qualifier"),
        V("TAETORD", "Planned Order of Element within Arm", "Num", origin="Protocol", role="Timing"),
        V("ETCD", "Element Code", origin="Protocol", role="Record Qualifier"),
        V("ELEMENT", "Description of Element", origin="Protocol", role="Synonym Qualifier"),
        V("TABRANCH", "Branch", origin="Protocol", role="Rule"),
        V("EPOCH", "Epoch", codelist="EPOCH", origin="Protocol", role="Timing"),
    )
    return make_dataset(
        "TA",
        "Trial Arms",
        klass="TRIAL DESIGN",
        structure="One record per planned Element per Arm",
        keys=("STUDYID", "ARMCD", "TAETORD"),
        variables=variables,
        rows=rows,
    )


def build_tv(snapshot: Snapshot) -> Dataset:
    rows = []
    for number, visit in enumerate(snapshot.protocol.schedule.visits, start=1):
        rows.append(
            {
                "STUDYID": snapshot.protocol.id,
                "DOMAIN": "TV",
                "VISITNUM": number,
                "VISIT": visit.name.upper(),
                "VISITDY": _visitdy(visit.target_day),
                "TVSTRL": (
                    f"Protocol day {visit.target_day} (-{visit.window_days.before}/+{visit.window_days.after}"
                    f" days); occurs {visit.occurs}"
                ),
            }
        )
    variables = (
        V("STUDYID", "Study Identifier", role="Identifier"),
        V("DOMAIN", "Domain Abbreviation", role="Identifier"),
        *_visit(),
        V("TVSTRL", "Visit Start Rule", origin="Protocol", role="Rule"),
    )
    return make_dataset(
        "TV",
        "Trial Visits",
        klass="TRIAL DESIGN",
        structure="One record per planned Visit per Arm",
        keys=("STUDYID", "VISITNUM"),
        variables=variables,
        rows=rows,
    )


def ie_test_codes(snapshot: Snapshot) -> dict[str, str]:
    """IETESTCD (8 characters) for each protocol criterion id: INCL01.., EXCL01.. in protocol order."""
    codes: dict[str, str] = {}
    counters = {"inclusion": 0, "exclusion": 0}
    for criterion in snapshot.protocol.eligibility.criteria:
        counters[criterion.kind] += 1
        codes[criterion.id] = f"{'INCL' if criterion.kind == 'inclusion' else 'EXCL'}{counters[criterion.kind]:02d}"
    return codes


def build_ti(snapshot: Snapshot) -> Dataset:
    codes = ie_test_codes(snapshot)
    rows = []
    for criterion in snapshot.protocol.eligibility.criteria:
        text = " ".join(criterion.registry_text.split())
        rows.append(
            {
                "STUDYID": snapshot.protocol.id,
                "DOMAIN": "TI",
                "IETESTCD": codes[criterion.id],
                "IETEST": text if len(text.encode()) <= 200 else text.encode()[:196].decode(errors="ignore") + "...",
                "IECAT": criterion.kind.upper(),
                "TIRL": criterion.id,
            }
        )
    variables = (
        V("STUDYID", "Study Identifier", role="Identifier"),
        V("DOMAIN", "Domain Abbreviation", role="Identifier"),
        V("IETESTCD", "Incl/Excl Criterion Short Name", origin="Protocol", role="Topic"),
        V("IETEST", "Inclusion/Exclusion Criterion", origin="Protocol", role="Synonym Qualifier"),
        V("IECAT", "Inclusion/Exclusion Category", origin="Protocol", role="Grouping Qualifier"),
        V("TIRL", "Inclusion/Exclusion Criterion Rule", origin="Protocol", role="Rule"),
    )
    return make_dataset(
        "TI",
        "Trial Inclusion/Exclusion Criteria",
        klass="TRIAL DESIGN",
        structure="One record per I/E criterion",
        keys=("STUDYID", "IETESTCD"),
        variables=variables,
        rows=rows,
    )


def build_ts(snapshot: Snapshot) -> Dataset:
    p = snapshot.protocol
    params: list[tuple[str, str]] = [
        ("TITLE", " ".join(p.titles.official.split())),
        ("TPHASE", "PHASE II TRIAL"),
        ("STYPE", "INTERVENTIONAL"),
        ("RANDOM", "Y"),
        ("TBLIND", "DOUBLE BLIND"),
        ("TCNTRL", "PLACEBO"),
        ("INTMODEL", "PARALLEL"),
        ("NARMS", str(len(p.arms))),
        ("PLANSUB", str(p.enrollment.planned)),
        ("SPONSOR", p.sponsor.name),
        ("REGID", p.identifiers.nct_id),
        ("TRT", "CYT107"),
        ("ROUTE", "INTRAMUSCULAR"),
        ("SSTDTC", p.dates.study_start.date.isoformat()),
        ("SDTIGVER", SDTMIG_VERSION),
        ("ACTSUB", str(len(snapshot.subjects))),
    ]
    params += [("INDIC", condition) for condition in p.design.conditions]
    rows = []
    counter: dict[str, int] = {}
    for code, value in params:
        counter[code] = counter.get(code, 0) + 1
        if len(value.encode()) > 200:
            value = value.encode()[:196].decode(errors="ignore") + "..."
        rows.append(
            {
                "STUDYID": p.id,
                "DOMAIN": "TS",
                "TSSEQ": counter[code],
                "TSPARMCD": code,
                "TSPARM": _tsparm(code),
                "TSVAL": value,
            }
        )
    variables = (
        V("STUDYID", "Study Identifier", role="Identifier"),
        V("DOMAIN", "Domain Abbreviation", role="Identifier"),
        V("TSSEQ", "Sequence Number", "Num", origin="Derived", role="Identifier"),
        V("TSPARMCD", "Trial Summary Parameter Short Name", codelist="TSPARMCD", origin="Protocol", role="Topic"),
        V("TSPARM", "Trial Summary Parameter", origin="Protocol", role="Synonym Qualifier"),
        V("TSVAL", "Parameter Value", origin="Protocol", role="Result Qualifier"),
    )
    return make_dataset(
        "TS",
        "Trial Summary",
        klass="TRIAL DESIGN",
        structure="One record per trial summary parameter value",
        keys=("STUDYID", "TSPARMCD", "TSSEQ"),
        variables=variables,
        rows=rows,
    )


def _tsparm(code: str) -> str:
    from iliad7.standards.terminology import decode

    return decode("TSPARMCD", code)


BUILDERS: dict[str, Callable[[Snapshot], Dataset]] = {
    "TS": build_ts,
    "TA": build_ta,
    "TE": build_te,
    "TV": build_tv,
    "TI": build_ti,
    "DM": build_dm,
    "DS": build_ds,
    "SV": build_sv,
    "EX": build_ex,
    "AE": build_ae,
    "HO": build_ho,
    "PR": build_pr,
    "LB": build_lb,
    "MB": build_mb,
    "VS": build_vs,
    "RS": build_rs,
}


def build_sdtm(snapshot: Snapshot, *, domains: Iterable[str] | None = None) -> dict[str, Dataset]:
    """Every SDTM dataset of the snapshot, by domain (event and findings domains may have no rows)."""
    return {name: BUILDERS[name](snapshot) for name in (domains or BUILDERS)}
