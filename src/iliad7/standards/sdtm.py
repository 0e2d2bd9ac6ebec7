"""SDTM (SDTMIG 3.4) tabulation datasets built from a guarded database snapshot.

Domains: trial design TS, TA, TE, TV, TI (`sdtm_design`); DM (randomized participants and
screen failures), SE, SV, DS, IE; EX, PR; AE, HO, CE (secondary infections); the findings LB,
CP, MB, VS, RS, FA (the Secondary Infections Committee's
decisions), DD (`sdtm_findings`); SUPP-- for collected values without an SDTM variable and
RELREC (`sdtm_relations`). Dates are ISO 8601 in the site's local time (no offset), --DY counts
from RFSTDTC (dose 1) with no day 0, --SEQ numbers each subject's records from 1, EPOCH comes from
the subject's timeline (`sdtm_base`).

Blinding (documented in docs/standards.md): for a user who may not read a participant's arm, DM
ARMCD/ACTARMCD are `BLINDED` and ARM/ACTARM `Blinded`, EX writes the masked treatment
`CYT107 OR PLACEBO` with the injected volume, and SE (whose treatment element names the arm) is
not written; no subject-level variable depends on the arm. The trial design datasets (TA, TS)
name the protocol's two arms, as the public protocol does. A screen failure has no arm at all:
ARMCD/ARM/ACTARMCD/ACTARM are null and ARMNRS says SCREEN FAILURE, in every export.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from iliad7.standards.dataset import Dataset, Variable, make_dataset
from iliad7.standards.meddra import Dictionary, load_dictionary
from iliad7.standards.sdtm_base import (
    ID_VARS,
    SDTMIG_VERSION,
    Timeline,
    V,
    Visits,
    base,
    epoch_at,
    epoch_var,
    iso,
    seq_var,
    sequenced,
    study_day,
    timeline,
    visit_vars,
    yn,
)
from iliad7.standards.snapshot import Snapshot, Subject

__all__ = ["SDTMIG_VERSION", "build_sdtm", "iso", "study_day"]

BLINDED_ARMCD = "BLINDED"
BLINDED_ARM = "Blinded"
MASKED_TREATMENT = "CYT107 OR PLACEBO"
# DM.ARM is the arm as ADSL.TRT01P names it (spec/interfaces.md): CYT107 or placebo.
ARMCD = {"CYT107": "CYT107", "placebo": "PLACEBO"}


class Context:
    """What the builders share for one snapshot: the timelines, visits and the MedDRA dictionary."""

    def __init__(self, snapshot: Snapshot, dictionary: Dictionary | None = None) -> None:
        self.snapshot = snapshot
        self.visits = Visits(snapshot)
        self.lines: dict[str, Timeline] = {s.usubjid: timeline(s) for s in snapshot.subjects}
        self.meddra = dictionary if dictionary is not None else load_dictionary()

    def epoch(self, subject: Subject, dtc: str, visit: str = "") -> str:
        return epoch_at(self.lines[subject.usubjid], dtc, planned_day=self.visits.target_day(visit))

    @property
    def randomized(self) -> list[Subject]:
        return [s for s in self.snapshot.subjects if not s.screen_failed]


def supp(
    row: dict[str, Any], qnam: str, qlabel: str, value: str, origin: str = "CRF", idvar: str | None = None
) -> None:
    """Attach a supplemental qualifier (SUPP--) to a record (or, with `idvar`, to its group); blank values
    are not written."""
    if value not in ("", None):
        row.setdefault("_supp", []).append((qnam, qlabel, str(value), origin, idvar))


# ---- special purpose: DM -----------------------------------------------------------------------------

DM_VARS = (
    *ID_VARS,
    V("SUBJID", "Subject Identifier for the Study", role="Topic"),
    V("RFSTDTC", "Subject Reference Start Date/Time", origin="Derived", role="Record Qualifier",
      method="Date and time of dose 1 (first study drug administration)."),
    V("RFENDTC", "Subject Reference End Date/Time", origin="Derived", role="Record Qualifier",
      method="END-OF-STUDY end date, else the date of death; null for a screen failure."),
    V("RFXSTDTC", "Date/Time of First Study Treatment", origin="Derived", role="Record Qualifier"),
    V("RFXENDTC", "Date/Time of Last Study Treatment", origin="Derived", role="Record Qualifier"),
    V("RFICDTC", "Date/Time of Informed Consent", origin="Derived", role="Record Qualifier"),
    V("RFPENDTC", "Date/Time of End of Participation", origin="Derived", role="Record Qualifier",
      method="END-OF-STUDY end date, the date of death, or for a screen failure the screening T0."),
    V("DTHDTC", "Date/Time of Death", origin="Derived", role="Record Qualifier"),
    V("DTHFL", "Subject Death Flag", codelist="NY", origin="Derived", role="Record Qualifier"),
    V("SITEID", "Study Site Identifier", codelist="SITEID", origin="Assigned", role="Record Qualifier"),
    V("AGE", "Age", "Num", origin="Derived", role="Record Qualifier",
      method="Whole years from the screening record's birth date to RFSTDTC (a screen failure: the screening T0)."),
    V("AGEU", "Age Units", codelist="AGEU", origin="Assigned", role="Variable Qualifier"),
    V("SEX", "Sex", codelist="SEX", role="Record Qualifier"),
    V("RACE", "Race", codelist="RACE", role="Record Qualifier"),
    V("ETHNIC", "Ethnicity", codelist="ETHNIC", role="Record Qualifier"),
    V("ARMCD", "Planned Arm Code", codelist="ARMCD", origin="Assigned", role="Record Qualifier"),
    V("ARM", "Description of Planned Arm", codelist="ARM", origin="Assigned", role="Synonym Qualifier"),
    V("ACTARMCD", "Actual Arm Code", codelist="ARMCD", origin="Assigned", role="Record Qualifier"),
    V("ACTARM", "Description of Actual Arm", codelist="ARM", origin="Assigned", role="Synonym Qualifier"),
    V("ARMNRS", "Reason Arm and/or Actual Arm is Null", codelist="ARMNULRS", origin="Assigned",
      role="Record Qualifier"),
    V("ACTARMUD", "Description of Unplanned Actual Arm", origin="Assigned", role="Record Qualifier"),
    V("COUNTRY", "Country", codelist="COUNTRY", origin="Assigned", role="Record Qualifier"),
    V("DMDTC", "Date/Time of Collection", role="Timing"),
    V("DMDY", "Study Day of Collection", "Num", origin="Derived", role="Timing"),
)  # fmt: skip
_RACE = {
    "american_indian_or_alaska_native": "AMERICAN INDIAN OR ALASKA NATIVE",
    "asian": "ASIAN",
    "black_or_african_american": "BLACK OR AFRICAN AMERICAN",
    "native_hawaiian_or_other_pacific_islander": "NATIVE HAWAIIAN OR OTHER PACIFIC ISLANDER",
    "white": "WHITE",
    "multiple": "MULTIPLE",
    "not_reported": "NOT REPORTED",
    "unknown": "UNKNOWN",
}
_ETHNIC = {
    "hispanic_or_latino": "HISPANIC OR LATINO",
    "not_hispanic_or_latino": "NOT HISPANIC OR LATINO",
    "not_reported": "NOT REPORTED",
    "unknown": "UNKNOWN",
}


def death_dtc(subject: Subject) -> str:
    for record in subject.forms_of("DEATH"):
        if record.get("death_date"):
            return iso(subject, record.get("death_date"))
    return ""


def end_dtc(subject: Subject) -> str:
    for record in subject.forms_of("END-OF-STUDY"):
        if record.get("end_date"):
            return iso(subject, record.get("end_date"))
    return death_dtc(subject)


def arm_columns(snapshot: Snapshot, subject: Subject) -> dict[str, str]:
    """DM's arm variables: none for a screen failure, the arm for a user who may read it, the
    blinded placeholder otherwise."""
    if subject.screen_failed:
        return {"ARMCD": "", "ARM": "", "ACTARMCD": "", "ACTARM": "", "ARMNRS": "SCREEN FAILURE"}
    if subject.arm is None:
        if not subject.doses:
            return {"ARMCD": BLINDED_ARMCD, "ARM": BLINDED_ARM, "ACTARMCD": "", "ACTARM": "",
                    "ARMNRS": "ASSIGNED, NOT TREATED"}  # fmt: skip
        return {"ARMCD": BLINDED_ARMCD, "ARM": BLINDED_ARM, "ACTARMCD": BLINDED_ARMCD, "ACTARM": BLINDED_ARM}
    planned = {"ARMCD": ARMCD[subject.arm], "ARM": subject.arm}
    # Actual arm: the kits given are the allocated arm's; a participant never dosed has no actual arm.
    if subject.doses:
        return {**planned, "ACTARMCD": planned["ARMCD"], "ACTARM": planned["ARM"]}
    return {**planned, "ACTARMCD": "", "ACTARM": "", "ARMNRS": "ASSIGNED, NOT TREATED"}


def build_dm(ctx: Context) -> Dataset:
    snapshot = ctx.snapshot
    rows = []
    for s in snapshot.subjects:
        line = ctx.lines[s.usubjid]
        sex = {"male": "M", "female": "F"}.get(str(s.screening.get("sex", "")).lower(), "U")
        demographics = next(iter(s.forms_of("DEMOGRAPHICS")), None)
        race = _RACE.get(demographics.get("race"), "") if demographics else ""
        ethnic = _ETHNIC.get(demographics.get("ethnicity"), "") if demographics else ""
        collected = iso(s, demographics.get("collected_on")) if demographics else ""
        end = "" if s.screen_failed else end_dtc(s)
        rows.append(
            {
                **base(snapshot, s, "DM"),
                "SUBJID": s.usubjid.removeprefix(snapshot.protocol.id + "-"),
                "RFSTDTC": line.first_dose.dtc if line.first_dose else "",
                "RFENDTC": end,
                "RFXSTDTC": line.first_dose.dtc if line.first_dose else "",
                "RFXENDTC": line.last_dose.dtc if line.last_dose else "",
                "RFICDTC": line.consent.dtc if line.consent else "",
                "RFPENDTC": line.screening.dtc if line.screening else end,
                "DTHDTC": death_dtc(s),
                "DTHFL": "Y" if death_dtc(s) or s.status == "died" else "",
                "SITEID": s.site,
                "AGE": s.age(),
                "AGEU": "YEARS" if s.age() is not None else "",
                "SEX": sex,
                "RACE": race,
                "ETHNIC": ethnic,
                **{"ARMNRS": "", "ACTARMUD": ""},
                **arm_columns(snapshot, s),
                "COUNTRY": "USA",
                "DMDTC": collected,
                "DMDY": study_day(s, collected) if not s.screen_failed else None,
            }
        )
    rows.sort(key=lambda r: r["USUBJID"])
    return make_dataset(
        "DM",
        "Demographics",
        klass="SPECIAL PURPOSE",
        structure="One record per subject",
        keys=("STUDYID", "USUBJID"),
        variables=DM_VARS,
        rows=rows,
        comment="Randomized participants and screen failures (ARMNRS = SCREEN FAILURE). Race and ethnicity "
        "come from the DEMOGRAPHICS form, birth date and sex from the screening record.",
    )


# ---- special purpose: SE, SV ---------------------------------------------------------------------------

SE_VARS = (
    *ID_VARS,
    seq_var("SE"),
    V("ETCD", "Element Code", codelist="ETCD", origin="Derived", role="Topic"),
    V("ELEMENT", "Description of Element", origin="Derived", role="Synonym Qualifier"),
    V("TAETORD", "Planned Order of Element within Arm", "Num", origin="Derived", role="Timing"),
    epoch_var(),
    V("SESTDTC", "Start Date/Time of Element", origin="Derived", role="Timing"),
    V("SEENDTC", "End Date/Time of Element", origin="Derived", role="Timing"),
    V("SESTDY", "Study Day of Start of Element", "Num", origin="Derived", role="Timing"),
    V("SEENDY", "Study Day of End of Element", "Num", origin="Derived", role="Timing"),
)


def build_se(ctx: Context) -> Dataset:
    """Each subject's elements; only for subjects whose arm the user may read (the treatment element is the arm)."""
    from iliad7.standards.sdtm_design import ARM_ELEMENT, ELEMENTS

    names = {etcd: (element, epoch) for etcd, element, _, _, epoch in ELEMENTS}
    rows = []
    # A blinded export has no SE at all: every randomized subject's treatment element is their arm.
    for s in () if ctx.snapshot.blinded else ctx.snapshot.subjects:
        line = ctx.lines[s.usubjid]
        spans: list[tuple[str, int, str, str]] = []
        if s.screen_failed:
            if line.screening is not None:
                spans.append(("SCRN", 1, line.screening.dtc, line.screening.dtc))
        elif s.arm is not None:
            start = line.consent.dtc if line.consent else iso(s, s.randomized_at)
            if line.first_dose is None:
                spans.append(("SCRN", 1, start, line.end_of_study.dtc if line.end_of_study else ""))
            else:
                spans.append(("SCRN", 1, start, line.first_dose.dtc))
                eot = line.end_of_treatment
                spans.append((ARM_ELEMENT[s.arm], 2, line.first_dose.dtc, eot.dtc if eot else ""))
                if eot is not None and line.treatment_ended_by != "death":
                    spans.append(("FU", 3, eot.dtc, line.end_of_study.dtc if line.end_of_study else ""))
        for etcd, order, start, end in spans:
            rows.append(
                {
                    **base(ctx.snapshot, s, "SE"),
                    "ETCD": etcd,
                    "ELEMENT": names[etcd][0],
                    "TAETORD": order,
                    "EPOCH": names[etcd][1],
                    "SESTDTC": start,
                    "SEENDTC": end,
                    "SESTDY": study_day(s, start) if not s.screen_failed else None,
                    "SEENDY": study_day(s, end) if not s.screen_failed else None,
                }
            )
    rows = sequenced("SE", rows, lambda r: r["TAETORD"])
    return make_dataset(
        "SE",
        "Subject Elements",
        klass="SPECIAL PURPOSE",
        structure="One record per actual Element per subject",
        keys=("STUDYID", "USUBJID", "ETCD", "SESTDTC"),
        variables=SE_VARS,
        rows=rows,
    )


SV_VARS = (
    *ID_VARS,
    *visit_vars(),
    V("SVPRESP", "Pre-specified", codelist="NY", origin="Assigned", role="Variable Qualifier"),
    V("SVOCCUR", "Occurrence", codelist="NY", origin="Derived", role="Record Qualifier"),
    epoch_var(),
    V("SVSTDTC", "Start Date/Time of Observation", origin="Derived", role="Timing"),
    V("SVENDTC", "End Date/Time of Observation", origin="Derived", role="Timing"),
    V("SVSTDY", "Study Day of Start of Observation", "Num", origin="Derived", role="Timing"),
    V("SVENDY", "Study Day of End of Observation", "Num", origin="Derived", role="Timing"),
)


def build_sv(ctx: Context) -> Dataset:
    """One record per protocol visit with data (a dose given, or a form filled at that visit)."""
    visits = ctx.visits
    rows = []
    for s in ctx.snapshot.subjects:
        dates: dict[str, list[str]] = {}
        for d in s.doses:
            visit = visits.by_dose.get(d.number)
            if visit:
                dates.setdefault(visit, []).append(iso(s, d.given_at))
        for r in s.forms:
            if r.visit in visits.by_id:
                stamp = r.get("collected_at") or r.get("assessed_at") or r.get("assessed_on") or r.get("collected_on")
                dates.setdefault(r.visit, []).extend([iso(s, stamp)] if stamp else [])
        if s.screen_failed and "SCREENING" not in dates and ctx.lines[s.usubjid].screening is not None:
            dates["SCREENING"] = [ctx.lines[s.usubjid].screening.dtc]  # type: ignore[union-attr]
        for visit, stamps in dates.items():
            start, end = (min(stamps), max(stamps)) if stamps else ("", "")
            rows.append(
                {
                    **base(ctx.snapshot, s, "SV"),
                    **visits.columns(visit),
                    "SVPRESP": "Y",
                    "SVOCCUR": "Y",
                    "EPOCH": ctx.epoch(s, start, visit),
                    "SVSTDTC": start,
                    "SVENDTC": end,
                    "SVSTDY": None if s.screen_failed else study_day(s, start),
                    "SVENDY": None if s.screen_failed else study_day(s, end),
                }
            )
    rows.sort(key=lambda r: (r["USUBJID"], r["VISITNUM"]))
    return make_dataset(
        "SV",
        "Subject Visits",
        klass="SPECIAL PURPOSE",
        structure="One record per actual or planned visit per subject",
        keys=("STUDYID", "USUBJID", "VISITNUM"),
        variables=SV_VARS,
        rows=rows,
    )


# ---- events: DS -----------------------------------------------------------------------------------------

DS_VARS = (
    *ID_VARS,
    seq_var("DS"),
    V("DSTERM", "Reported Term for the Disposition Event", role="Topic"),
    V("DSDECOD", "Standardized Disposition Term", codelist="NCOMPLT", origin="Assigned", role="Synonym Qualifier"),
    V("DSCAT", "Category for Disposition Event", codelist="DSCAT", origin="Assigned", role="Grouping Qualifier"),
    V("DSSCAT", "Subcategory for Disposition Event", origin="Assigned", role="Grouping Qualifier"),
    V("EPOCH", "Epoch", codelist="EPOCH", origin="Assigned", role="Timing",
      comment="The epoch the disposition event closes (a protocol milestone: the epoch it happens in)."),
    V("DSSTDTC", "Start Date/Time of Disposition Event", role="Timing"),
    V("DSSTDY", "Study Day of Start of Disposition Event", "Num", origin="Derived", role="Timing"),
)  # fmt: skip
_STUDY_END = {
    "completed": ("COMPLETED", "COMPLETED"),
    "withdrew_consent": ("WITHDRAWAL BY SUBJECT", "WITHDRAWAL BY SUBJECT"),
    "withdrawn_by_investigator": ("PHYSICIAN DECISION", "PHYSICIAN DECISION"),
    "lost_to_follow_up": ("LOST TO FOLLOW-UP", "LOST TO FOLLOW-UP"),
    "died": ("DEATH", "DEATH"),
}
_TREATMENT_END = {
    "discharge": ("COMPLETED", "TREATMENT COMPLETED: DISCHARGED FROM HOSPITAL (NO DOSE AFTER DISCHARGE)"),
    "day21": ("COMPLETED", "TREATMENT COMPLETED: DOSING PERIOD TO DAY 21 OVER"),
    "death": ("DEATH", "DEATH"),
}


def build_ds(ctx: Context) -> Dataset:
    """Protocol milestones (consent, randomization), the screen failure, the end of treatment and the
    end of the study (completion, or discontinuation with its reason, or death)."""
    snapshot = ctx.snapshot
    rows: list[dict[str, Any]] = []
    for s in snapshot.subjects:
        line = ctx.lines[s.usubjid]
        b = base(snapshot, s, "DS")

        def add(term: str, decod: str, cat: str, scat: str, epoch: str, dtc: str, order: int, *,
                subject: Subject = s, ids: dict[str, Any] = b,
                extra: dict[str, tuple[str, str]] | None = None) -> None:  # fmt: skip
            row = {**ids, "DSTERM": term, "DSDECOD": decod, "DSCAT": cat, "DSSCAT": scat, "EPOCH": epoch,
                   "DSSTDTC": dtc, "DSSTDY": None if subject.screen_failed else study_day(subject, dtc),
                   "_o": order}  # fmt: skip
            for qnam, (label, value) in (extra or {}).items():
                supp(row, qnam, label, value)
            rows.append(row)

        if s.screen_failed:
            failed = ", ".join(s.failed_criteria or s.unknown_criteria)
            reason = f"NOT ELIGIBLE: {failed}" if s.failed_criteria else f"ELIGIBILITY NOT ESTABLISHED: {failed}"
            add(reason[:200], "SCREEN FAILURE", "DISPOSITION EVENT", "STUDY PARTICIPATION", "SCREENING",
                line.screening.dtc if line.screening else "", 0)  # fmt: skip
            continue
        if line.consent is not None:
            add("INFORMED CONSENT OBTAINED", "INFORMED CONSENT OBTAINED", "PROTOCOL MILESTONE", "", "SCREENING",
                line.consent.dtc, 0)  # fmt: skip
        if s.randomized_at is not None:
            add("RANDOMIZED", "RANDOMIZED", "PROTOCOL MILESTONE", "", "SCREENING", iso(s, s.randomized_at), 1)
        ending = next(iter(s.forms_of("END-OF-STUDY")), None)
        status = ending.get("end_status") if ending else ("died" if s.status == "died" else "")
        if line.end_of_treatment is not None:
            decod, term = _TREATMENT_END.get(line.treatment_ended_by, ("", ""))
            if line.treatment_ended_by == "withdrawal":
                decod, term = _STUDY_END[status]
                term = (ending.get("withdrawal_reason") if ending else "") or term
            add(term.upper()[:200], decod, "DISPOSITION EVENT", "STUDY TREATMENT", "TREATMENT",
                line.end_of_treatment.dtc, 2)  # fmt: skip
        if status in _STUDY_END:
            decod, term = _STUDY_END[status]
            if ending is not None and ending.get("withdrawal_reason"):
                term = ending.get("withdrawal_reason").upper()[:200]
            extra = {}
            if ending is not None:
                extra = {
                    "LSTCNTDT": ("Date of Last Contact", iso(s, ending.get("last_contact_date"))),
                    "DATAUSE": ("Data Collected So Far May Be Used", yn(ending.get("data_use_allowed"))),
                }
            add(term, decod, "DISPOSITION EVENT", "STUDY PARTICIPATION", "FOLLOW-UP", end_dtc(s), 3, extra=extra)
    rows = sequenced("DS", rows, lambda r: (r["_o"], r["DSSTDTC"]))
    return make_dataset(
        "DS",
        "Disposition",
        klass="EVENTS",
        structure="One record per disposition status or protocol milestone per subject",
        keys=("STUDYID", "USUBJID", "DSSEQ"),
        variables=DS_VARS,
        rows=rows,
    )


# ---- IE ---------------------------------------------------------------------------------------------------

IE_VARS = (
    *ID_VARS,
    seq_var("IE"),
    V("IETESTCD", "Inclusion/Exclusion Criterion Short Name", codelist="IETESTCD", origin="Derived", role="Topic"),
    V("IETEST", "Inclusion/Exclusion Criterion", origin="Protocol", role="Synonym Qualifier"),
    V("IECAT", "Inclusion/Exclusion Category", codelist="IECAT", origin="Protocol", role="Grouping Qualifier"),
    V("IEORRES", "I/E Criterion Original Result", codelist="NY", origin="Derived", role="Result Qualifier",
      method="The screening verdict (iliad7.eligibility.screen) of the criterion: an inclusion not met is N, "
      "an exclusion met is Y."),
    V("IESTRESC", "I/E Criterion Result in Std Format", codelist="NY", origin="Derived", role="Result Qualifier"),
    *visit_vars(),
    epoch_var("Assigned"),
    V("IEDTC", "Date/Time of Collection", origin="Derived", role="Timing",
      comment="The screening record's T0, when eligibility is judged (clinical-rules section 3)."),
    V("IEDY", "Study Day of Collection", "Num", origin="Derived", role="Timing",
      comment="Null: a screen failure has no RFSTDTC."),
)  # fmt: skip


def build_ie(ctx: Context) -> Dataset:
    """One record per criterion a screen failure did not meet (the verdict's failed criteria)."""
    from iliad7.standards.sdtm_design import criterion_text, ie_test_codes

    snapshot = ctx.snapshot
    codes = ie_test_codes(snapshot)
    criteria = {c.id: c for c in snapshot.protocol.eligibility.criteria}
    rows = []
    for s in snapshot.subjects:
        if not s.screen_failed:
            continue
        dtc = ctx.lines[s.usubjid].screening.dtc if ctx.lines[s.usubjid].screening else ""  # type: ignore[union-attr]
        for criterion_id in s.failed_criteria:
            criterion = criteria[criterion_id]
            result = "N" if criterion.kind == "inclusion" else "Y"
            rows.append(
                {
                    **base(snapshot, s, "IE"),
                    "IETESTCD": codes[criterion_id],
                    "IETEST": criterion_text(criterion),
                    "IECAT": criterion.kind.upper(),
                    "IEORRES": result,
                    "IESTRESC": result,
                    **ctx.visits.columns("SCREENING"),
                    "EPOCH": "SCREENING",
                    "IEDTC": dtc,
                    "IEDY": None,
                    "_o": list(criteria).index(criterion_id),
                }
            )
    rows = sequenced("IE", rows, lambda r: r["_o"])
    return make_dataset(
        "IE",
        "Inclusion/Exclusion Criteria Not Met",
        klass="FINDINGS",
        structure="One record per inclusion/exclusion criterion not met per subject",
        keys=("STUDYID", "USUBJID", "IETESTCD"),
        variables=IE_VARS,
        rows=rows,
    )


# ---- events: AE, HO, CE --------------------------------------------------------------------------------

MEDDRA_VARS = {
    "LLT": ("Lowest Level Term", "Lowest Level Term Code"),
    "HLT": ("High Level Term", "High Level Term Code"),
    "HLGT": ("High Level Group Term", "High Level Group Term Code"),
}


def coding_vars(d: str) -> tuple[Variable, ...]:
    method = "MedDRA coding of the reported term with the sponsor's dictionary file (docs/standards.md); UNCODED " \
             "when the file has no entry for the term or there is no file."  # fmt: skip
    return (
        V(f"{d}LLT", "Lowest Level Term", origin="Assigned", role="Variable Qualifier", method=method),
        V(f"{d}LLTCD", "Lowest Level Term Code", "Num", origin="Assigned", role="Variable Qualifier"),
        V(f"{d}DECOD", "Dictionary-Derived Term", origin="Assigned", role="Synonym Qualifier", method=method),
        V(f"{d}PTCD", "Preferred Term Code", "Num", origin="Assigned", role="Variable Qualifier"),
        V(f"{d}HLT", "High Level Term", origin="Assigned", role="Variable Qualifier"),
        V(f"{d}HLTCD", "High Level Term Code", "Num", origin="Assigned", role="Variable Qualifier"),
        V(f"{d}HLGT", "High Level Group Term", origin="Assigned", role="Variable Qualifier"),
        V(f"{d}HLGTCD", "High Level Group Term Code", "Num", origin="Assigned", role="Variable Qualifier"),
        V(f"{d}BODSYS", "Body System or Organ Class", origin="Assigned", role="Record Qualifier"),
        V(f"{d}BDSYCD", "Body System or Organ Class Code", "Num", origin="Assigned", role="Record Qualifier"),
        V(f"{d}SOC", "Primary System Organ Class", origin="Assigned", role="Variable Qualifier"),
        V(f"{d}SOCCD", "Primary System Organ Class Code", "Num", origin="Assigned", role="Variable Qualifier"),
    )


def coding_columns(ctx: Context, d: str, term: str) -> dict[str, Any]:
    c = ctx.meddra.code(term)
    return {
        f"{d}LLT": c.llt, f"{d}LLTCD": c.llt_code, f"{d}DECOD": c.pt, f"{d}PTCD": c.pt_code,
        f"{d}HLT": c.hlt, f"{d}HLTCD": c.hlt_code, f"{d}HLGT": c.hlgt, f"{d}HLGTCD": c.hlgt_code,
        f"{d}BODSYS": c.soc, f"{d}BDSYCD": c.soc_code, f"{d}SOC": c.soc, f"{d}SOCCD": c.soc_code,
    }  # fmt: skip


AE_VARS = (
    *ID_VARS,
    seq_var("AE"),
    V("AESPID", "Sponsor-Defined Identifier", origin="Assigned", role="Identifier",
      comment="The ADVERSE-EVENT form instance."),
    V("AETERM", "Reported Term for the Adverse Event", role="Topic",
      comment="The CTCAE v5.0 term as reported on the ADVERSE-EVENT form."),
    *coding_vars("AE"),
    V("AESER", "Serious Event", codelist="NY", role="Record Qualifier"),
    V("AEACN", "Action Taken with Study Treatment", codelist="ACN", role="Record Qualifier",
      comment="Not collected on the ADVERSE-EVENT form: the study drug is given by protocol schedule only."),
    V("AEREL", "Causality", codelist="AEREL", role="Record Qualifier"),
    V("AEOUT", "Outcome of Adverse Event", codelist="OUT", role="Record Qualifier"),
    V("AESCONG", "Congenital Anomaly or Birth Defect", codelist="NY", role="Record Qualifier"),
    V("AESDISAB", "Persist or Signif Disability/Incapacity", codelist="NY", role="Record Qualifier"),
    V("AESDTH", "Results in Death", codelist="NY", role="Record Qualifier"),
    V("AESHOSP", "Requires or Prolongs Hospitalization", codelist="NY", role="Record Qualifier"),
    V("AESLIFE", "Is Life Threatening", codelist="NY", role="Record Qualifier"),
    V("AESMIE", "Other Medically Important Serious Event", codelist="NY", role="Record Qualifier"),
    V("AETOXGR", "Standard Toxicity Grade", codelist="TOXGR", role="Record Qualifier",
      comment="CTCAE v5.0 grade."),
    epoch_var(),
    V("AESTDTC", "Start Date/Time of Adverse Event", role="Timing"),
    V("AEENDTC", "End Date/Time of Adverse Event", role="Timing"),
    V("AESTDY", "Study Day of Start of Adverse Event", "Num", origin="Derived", role="Timing"),
    V("AEENDY", "Study Day of End of Adverse Event", "Num", origin="Derived", role="Timing"),
)  # fmt: skip
OUTCOME = {
    "recovered": "RECOVERED/RESOLVED",
    "recovering": "RECOVERING/RESOLVING",
    "not_recovered": "NOT RECOVERED/NOT RESOLVED",
    "recovered_with_sequelae": "RECOVERED/RESOLVED WITH SEQUELAE",
    "fatal": "FATAL",
    "unknown": "UNKNOWN",
}
RELATEDNESS = {
    "not_related": "NOT RELATED",
    "unlikely": "UNLIKELY RELATED",
    "possible": "POSSIBLY RELATED",
    "probable": "PROBABLY RELATED",
    "definite": "RELATED",
    "not_assessed": "NOT ASSESSED",
}


def build_ae(ctx: Context) -> Dataset:
    snapshot = ctx.snapshot
    rows = []
    for s in snapshot.subjects:
        for r in s.forms_of("ADVERSE-EVENT"):
            start, end = iso(s, r.get("onset_date")), iso(s, r.get("stop_date"))
            row = {
                **base(snapshot, s, "AE"),
                "AESPID": str(r.instance),
                "AETERM": r.get("term"),
                **coding_columns(ctx, "AE", r.get("term")),
                "AESER": yn(r.get("serious")),
                "AEACN": "",
                "AEREL": RELATEDNESS.get(r.get("relatedness"), ""),
                "AEOUT": OUTCOME.get(r.get("outcome"), ""),
                "AESCONG": yn(r.get("sae_congenital_anomaly")),
                "AESDISAB": yn(r.get("sae_disability")),
                "AESDTH": yn(r.get("sae_death")),
                "AESHOSP": yn(r.get("sae_hospitalization")),
                "AESLIFE": yn(r.get("sae_life_threatening")),
                "AESMIE": yn(r.get("sae_important_medical_event")),
                "AETOXGR": r.get("grade"),
                "EPOCH": ctx.epoch(s, start),
                "AESTDTC": start,
                "AEENDTC": end,
                "AESTDY": study_day(s, start),
                "AEENDY": study_day(s, end),
                "_i": r.instance,
            }
            supp(row, "AEEXPECT", "Expected per Reference Safety Info", yn(r.get("expected")))
            supp(row, "AEAWARDT", "Date/Time Site Aware of Serious Event", iso(s, r.get("awareness_at")))
            supp(row, "AESAERDT", "Date/Time Serious Event Reported", iso(s, r.get("sae_reported_at")))
            supp(row, "AELBTERM", "Laboratory Term Graded", r.get("lab_term").replace("_", " ").upper())
            supp(row, "AELBVAL", "Laboratory Value Graded", r.get("lab_value"))
            supp(row, "AELBUNIT", "Unit of Laboratory Value Graded", r.get("lab_unit"))
            supp(row, "AELBLLN", "Lab Lower Limit of Normal", r.get("lab_lln"))
            supp(row, "AELBULN", "Lab Upper Limit of Normal", r.get("lab_uln"))
            rows.append(row)
    rows = sequenced("AE", rows, lambda r: (r["AESTDTC"], r["_i"]))
    return make_dataset(
        "AE",
        "Adverse Events",
        klass="EVENTS",
        structure="One record per adverse event per subject",
        keys=("STUDYID", "USUBJID", "AEDECOD", "AESTDTC", "AESPID"),
        variables=AE_VARS,
        rows=rows,
    )


HO_VARS = (
    *ID_VARS,
    seq_var("HO"),
    V("HOSPID", "Sponsor-Defined Identifier", origin="Assigned", role="Identifier"),
    V("HOTERM", "Healthcare Encounter Term", role="Topic"),
    V("HODECOD", "Dictionary-Derived Term", codelist="HODECOD", origin="Assigned", role="Synonym Qualifier"),
    V("HOCAT", "Category for Healthcare Encounter", origin="Assigned", role="Grouping Qualifier"),
    epoch_var(),
    V("HOSTDTC", "Start Date/Time of Healthcare Encounter", role="Timing"),
    V("HOENDTC", "End Date/Time of Healthcare Encounter", role="Timing"),
    V("HOSTDY", "Study Day of Start of Encounter", "Num", origin="Derived", role="Timing"),
    V("HOENDY", "Study Day of End of Encounter", "Num", origin="Derived", role="Timing"),
)
_DESTINATION = {
    "home": "HOME",
    "other_facility": "OTHER HEALTHCARE FACILITY",
    "hospice": "HOSPICE",
    "ward": "HOSPITAL WARD",
    "died": "DIED",
}


def build_ho(ctx: Context) -> Dataset:
    snapshot = ctx.snapshot
    rows = []
    for s in snapshot.subjects:
        for r in s.forms_of("HOSPITAL-STAY"):
            term = {"hospital": "HOSPITAL", "icu": "INTENSIVE CARE UNIT"}.get(r.get("stay_type"), "")
            start, end = iso(s, r.get("admitted_at")), iso(s, r.get("discharged_at"))
            row = {
                **base(snapshot, s, "HO"),
                "HOSPID": str(r.instance),
                "HOTERM": term,
                "HODECOD": term,
                "HOCAT": "READMISSION" if yn(r.get("readmission")) == "Y" else "ADMISSION",
                "EPOCH": ctx.epoch(s, start),
                "HOSTDTC": start,
                "HOENDTC": end,
                "HOSTDY": study_day(s, start),
                "HOENDY": study_day(s, end),
            }
            supp(row, "HODISCH", "Discharge Destination", _DESTINATION.get(r.get("discharge_destination"), ""))
            rows.append(row)
    rows = sequenced("HO", rows, lambda r: (r["HOSTDTC"], r["HOTERM"]))
    return make_dataset(
        "HO",
        "Healthcare Encounters",
        klass="EVENTS",
        structure="One record per healthcare encounter per subject",
        keys=("STUDYID", "USUBJID", "HOTERM", "HOSTDTC"),
        variables=HO_VARS,
        rows=rows,
    )


CE_VARS = (
    *ID_VARS,
    seq_var("CE"),
    V("CESPID", "Sponsor-Defined Identifier", origin="Assigned", role="Identifier",
      comment="The SECONDARY-INFECTION form instance: FA.FASPID of the committee's decision on it."),
    V("CETERM", "Reported Term for the Clinical Event", origin="Assigned", role="Topic"),
    *coding_vars("CE")[2:4],
    V("CECAT", "Category for Clinical Event", origin="Assigned", role="Grouping Qualifier"),
    V("CESCAT", "Subcategory for Clinical Event", role="Grouping Qualifier",
      comment="The site of infection, as collected."),
    epoch_var(),
    V("CESTDTC", "Start Date/Time of Clinical Event", role="Timing"),
    V("CESTDY", "Study Day of Start of Clinical Event", "Num", origin="Derived", role="Timing"),
)  # fmt: skip
INFECTION_SITES = {
    "bloodstream": "BLOODSTREAM",
    "lower_respiratory": "LOWER RESPIRATORY TRACT",
    "urinary": "URINARY TRACT",
    "skin_soft_tissue": "SKIN AND SOFT TISSUE",
    "intra_abdominal": "INTRA-ABDOMINAL",
    "catheter_related": "CATHETER-RELATED",
    "other": "OTHER SITE",
}


def infection_term(record: Any) -> str:
    return f"SECONDARY INFECTION, {INFECTION_SITES.get(record.get('infection_site'), 'SITE NOT GIVEN')}"


def build_ce(ctx: Context) -> Dataset:
    """The secondary infections reported for the Secondary Infections Committee (SECONDARY-INFECTION forms)."""
    snapshot = ctx.snapshot
    rows = []
    for s in snapshot.subjects:
        for r in s.forms_of("SECONDARY-INFECTION"):
            start = iso(s, r.get("onset_date"))
            term = infection_term(r)
            coding = ctx.meddra.code(term)
            row = {
                **base(snapshot, s, "CE"),
                "CESPID": str(r.instance),
                "CETERM": term,
                # Uncoded: blank (CEDECOD is permissible).
                "CEDECOD": coding.pt if coding.coded else "",
                "CEPTCD": coding.pt_code,
                "CECAT": "SECONDARY INFECTION",
                "CESCAT": INFECTION_SITES.get(r.get("infection_site"), ""),
                "EPOCH": ctx.epoch(s, start),
                "CESTDTC": start,
                "CESTDY": study_day(s, start),
                "_i": r.instance,
            }
            organism_type = {"bacterial": "BACTERIAL", "fungal": "FUNGAL", "viral": "VIRAL (NOT SARS-COV-2)",
                             "unknown": "NOT IDENTIFIED"}.get(r.get("organism_type"), "")  # fmt: skip
            supp(row, "CEORGTYP", "Organism Type", organism_type)
            supp(row, "CEORGNSM", "Organism", r.get("organism"))
            supp(row, "CECULTCF", "Confirmed by Culture or PCR", yn(r.get("culture_confirmed")))
            supp(row, "CEDESC", "Clinical Description", r.get("description")[:200])
            rows.append(row)
    rows = sequenced("CE", rows, lambda r: (r["CESTDTC"], r["_i"]))
    return make_dataset(
        "CE",
        "Clinical Events",
        klass="EVENTS",
        structure="One record per secondary infection per subject",
        keys=("STUDYID", "USUBJID", "CESPID"),
        variables=CE_VARS,
        rows=rows,
    )


# ---- interventions: EX, PR ------------------------------------------------------------------------

EX_VARS = (
    *ID_VARS,
    seq_var("EX"),
    V("EXREFID", "Reference ID", role="Identifier", comment="The label of the (blinded) syringe."),
    V("EXTRT", "Name of Treatment", codelist="EXTRT", origin="Assigned", role="Topic"),
    V("EXDOSE", "Dose", "Num", role="Record Qualifier"),
    V("EXDOSU", "Dose Units", codelist="UNIT", origin="Assigned", role="Variable Qualifier"),
    V("EXDOSFRM", "Dose Form", codelist="FRM", origin="Assigned", role="Variable Qualifier"),
    V("EXROUTE", "Route of Administration", codelist="ROUTE", origin="Protocol", role="Variable Qualifier"),
    V(
        "EXVAMT",
        "Treatment Vehicle Amount",
        "Num",
        role="Record Qualifier",
        comment="The volume injected: the same for both arms (the syringes look alike).",
    ),
    V("EXVAMTU", "Treatment Vehicle Amount Units", codelist="UNIT", origin="Assigned", role="Variable Qualifier"),
    V("EXLOC", "Location of Dose Administration", codelist="LOC", role="Record Qualifier"),
    V("EXLAT", "Laterality", codelist="LAT", role="Variable Qualifier"),
    *visit_vars(),
    epoch_var(),
    V("EXSTDTC", "Start Date/Time of Treatment", role="Timing"),
    V("EXENDTC", "End Date/Time of Treatment", role="Timing"),
    V("EXSTDY", "Study Day of Start of Treatment", "Num", origin="Derived", role="Timing"),
    V("EXENDY", "Study Day of End of Treatment", "Num", origin="Derived", role="Timing"),
)
_INJECTION_SITE = {
    "left_deltoid": ("DELTOID MUSCLE", "LEFT"),
    "right_deltoid": ("DELTOID MUSCLE", "RIGHT"),
    "left_thigh": ("THIGH", "LEFT"),
    "right_thigh": ("THIGH", "RIGHT"),
}


def exposure(subject: Subject, volume_ml: float, dose_ug: int) -> tuple[str, float, str]:
    """(EXTRT, EXDOSE, EXDOSU): masked with the volume for a blinded export, the arm's dose otherwise."""
    if subject.arm is None:
        return MASKED_TREATMENT, volume_ml, "mL"
    if subject.arm == "CYT107":
        return "CYT107", float(dose_ug), "ug"
    return "PLACEBO", 0.0, "ug"


def build_ex(ctx: Context) -> Dataset:
    snapshot, visits = ctx.snapshot, ctx.visits
    rows = []
    for s in snapshot.subjects:
        for d in s.doses:
            treatment, dose, unit = exposure(s, d.volume_ml, d.dose_ug)
            dtc = iso(s, d.given_at)
            location, side = _INJECTION_SITE.get(d.injection_site, ("", ""))
            visit = visits.by_dose.get(d.number, "")
            record = next((r for r in s.forms_of("STUDY-DRUG") if r.visit == visit), None)
            row = {
                **base(snapshot, s, "EX"),
                "EXREFID": d.label,
                "EXTRT": treatment,
                "EXDOSE": dose,
                "EXDOSU": unit,
                "EXVAMT": d.volume_ml,
                "EXVAMTU": "mL",
                "EXDOSFRM": "INJECTION",
                "EXROUTE": "INTRAMUSCULAR",
                "EXLOC": location,
                "EXLAT": side,
                **visits.columns(visit),
                "EPOCH": "TREATMENT",
                "EXSTDTC": dtc,
                "EXENDTC": dtc,
                "EXSTDY": study_day(s, dtc),
                "EXENDY": study_day(s, dtc),
                "_n": d.number,
            }
            if record is not None:
                reaction = record.get("local_reaction")
                supp(row, "EXLCLRX", "Local Reaction at Injection Site", reaction.replace("_", " ").upper())
            rows.append(row)
    rows = sequenced("EX", rows, lambda r: r["_n"])
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
    *ID_VARS,
    seq_var("PR"),
    V("PRSPID", "Sponsor-Defined Identifier", origin="Assigned", role="Identifier"),
    V("PRTRT", "Reported Name of Procedure", role="Topic"),
    V("PRCAT", "Category", origin="Assigned", role="Grouping Qualifier"),
    epoch_var(),
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


def build_pr(ctx: Context) -> Dataset:
    snapshot = ctx.snapshot
    rows = []
    for s in snapshot.subjects:
        for r in s.forms_of("ORGAN-SUPPORT"):
            term, category = _SUPPORT.get(r.get("support_type"), (r.get("support_type").upper(), "ORGAN SUPPORT"))
            start, end = iso(s, r.get("started_at")), iso(s, r.get("stopped_at"))
            rows.append(
                {
                    **base(snapshot, s, "PR"),
                    "PRSPID": str(r.instance),
                    "PRTRT": term,
                    "PRCAT": category,
                    "EPOCH": ctx.epoch(s, start),
                    "PRSTDTC": start,
                    "PRENDTC": end,
                    "PRSTDY": study_day(s, start),
                    "PRENDY": study_day(s, end),
                }
            )
    rows = sequenced("PR", rows, lambda r: (r["PRSTDTC"], r["PRTRT"]))
    return make_dataset(
        "PR",
        "Procedures",
        klass="INTERVENTIONS",
        structure="One record per organ-support episode per subject",
        keys=("STUDYID", "USUBJID", "PRTRT", "PRSTDTC"),
        variables=PR_VARS,
        rows=rows,
    )


# ---- all of it ---------------------------------------------------------------------------------------------


def _builders() -> dict[str, Callable[[Context], Dataset]]:
    from iliad7.standards import sdtm_design as design
    from iliad7.standards import sdtm_findings as findings

    return {
        "TS": design.build_ts,
        "TA": design.build_ta,
        "TE": design.build_te,
        "TV": design.build_tv,
        "TI": design.build_ti,
        "DM": build_dm,
        "SE": build_se,
        "SV": build_sv,
        "DS": build_ds,
        "IE": build_ie,
        "EX": build_ex,
        "PR": build_pr,
        "AE": build_ae,
        "HO": build_ho,
        "CE": build_ce,
        "LB": findings.build_lb,
        "CP": findings.build_cp,
        "MB": findings.build_mb,
        "VS": findings.build_vs,
        "RS": findings.build_rs,
        "FA": findings.build_fa,
        "DD": findings.build_dd,
    }


DOMAINS = ("TS", "TA", "TE", "TV", "TI", "DM", "SE", "SV", "DS", "IE", "EX", "PR", "AE", "HO", "CE",
           "LB", "CP", "MB", "VS", "RS", "FA", "DD")  # fmt: skip


def build_sdtm(
    snapshot: Snapshot, *, domains: Iterable[str] | None = None, dictionary: Dictionary | None = None
) -> dict[str, Dataset]:
    """Every SDTM dataset of the snapshot by name (event and findings domains may have no rows), with the
    SUPP-- datasets and RELREC that relate them."""
    from iliad7.standards.sdtm_relations import build_relrec, build_supp

    ctx = Context(snapshot, dictionary)
    builders = _builders()
    result = {name: builders[name](ctx) for name in (domains or DOMAINS)}
    for dataset in list(result.values()):
        supp_dataset = build_supp(snapshot, dataset)
        if supp_dataset is not None:
            result[supp_dataset.name] = supp_dataset
    if "RS" in result and "VS" in result:
        result["RELREC"] = build_relrec(snapshot, result["RS"], result["VS"])
    return result
