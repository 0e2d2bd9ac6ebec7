"""SDTM findings domains: LB, CP (T-cell subsets), MB (SARS-CoV-2), VS, RS (clinical
classifications), FA (the Secondary Infections Committee's decisions) and DD (death details).

Results come from the protocol's forms and from the screening record (its ALC, ALT and AST, weight
and height, NEWS2, SOFA and Clinical Frailty Scale, collected at screening). Original units are the
form's, written as their CDISC UNIT term (a count per mm3 is the same number per microlitre, 10^6/L);
standard units are the UNIT terms of `LAB_TESTS`/`VITAL_TESTS`. Reference ranges come from the LAB
form's LLN/ULN items and the screening record's ULN; --NRIND compares the standard result with them.
--LOBXFL (SDTMIG 3.4, in place of --BLFL) flags each test's last result before the first dose.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import TYPE_CHECKING, Any

from iliad7.standards.dataset import Dataset, Variable, make_dataset
from iliad7.standards.sdtm_base import (
    ID_VARS,
    V,
    base,
    epoch_var,
    iso,
    number,
    seq_var,
    sequenced,
    study_day,
    visit_vars,
    yn,
)
from iliad7.standards.snapshot import Subject

if TYPE_CHECKING:
    from iliad7.standards.sdtm import Context


def findings_vars(
    d: str,
    *,
    testcd: str,
    test: str,
    extra_topic: tuple[Variable, ...] = (),
    ranges: bool = False,
    after_result: tuple[Variable, ...] = (),
    loinc: bool = False,
    spec: bool = False,
    method: bool = False,
    units: bool = True,
    dtc_label: str = "Date/Time of Collection",
    dy_label: str = "Study Day of Collection",
) -> tuple[Variable, ...]:
    """The findings variables in SDTMIG order (only those the domain uses)."""
    chosen: list[Variable | None] = [
        *ID_VARS,
        seq_var(d),
        V(f"{d}SPID", "Sponsor-Defined Identifier", origin="Assigned", role="Identifier"),
        V(f"{d}TESTCD", _label(d, "TESTCD"), codelist=testcd, origin="Assigned", role="Topic"),
        V(f"{d}TEST", _label(d, "TEST"), codelist=test, origin="Assigned", role="Synonym Qualifier"),
        *extra_topic,
        V(f"{d}CAT", "Category", origin="Assigned", role="Grouping Qualifier"),
        V(f"{d}ORRES", "Result or Finding in Original Units", role="Result Qualifier"),
        V(f"{d}ORRESU", "Original Units", codelist="UNIT", role="Variable Qualifier") if units else None,
        V(f"{d}ORNRLO", "Reference Range Lower Limit in Orig Unit", role="Variable Qualifier") if ranges else None,
        V(f"{d}ORNRHI", "Reference Range Upper Limit in Orig Unit", role="Variable Qualifier") if ranges else None,
        V(f"{d}STRESC", "Character Result/Finding in Std Format", origin="Derived", role="Result Qualifier"),
        V(f"{d}STRESN", "Numeric Result/Finding in Standard Units", "Num", origin="Derived", role="Result Qualifier"),
        V(f"{d}STRESU", "Standard Units", codelist="UNIT", origin="Derived", role="Variable Qualifier")
        if units
        else None,
        V(f"{d}STNRLO", "Reference Range Lower Limit-Std Units", "Num", origin="Derived", role="Variable Qualifier")
        if ranges
        else None,
        V(f"{d}STNRHI", "Reference Range Upper Limit-Std Units", "Num", origin="Derived", role="Variable Qualifier")
        if ranges
        else None,
        V(
            f"{d}NRIND",
            "Reference Range Indicator",
            codelist="NRIND",
            origin="Derived",
            role="Variable Qualifier",
            method="LOW below the standard lower limit, HIGH above the upper one, NORMAL otherwise; null without "
            "a range.",
        )
        if ranges
        else None,
        *after_result,
        V(f"{d}SPEC", "Specimen Type", codelist="SPECTYPE", origin="Assigned", role="Record Qualifier")
        if spec
        else None,
        V(f"{d}LOC", "Location Used for the Measurement", codelist="LOC", origin="Assigned", role="Record Qualifier")
        if spec and d == "MB"
        else None,
        V(f"{d}METHOD", "Method of Test or Examination", codelist="METHOD", origin="Assigned", role="Record Qualifier")
        if method
        else None,
        V(f"{d}LOINC", "LOINC Code", origin="Assigned", role="Synonym Qualifier") if loinc else None,
        V(
            f"{d}LOBXFL",
            "Last Observation Before Exposure Flag",
            codelist="NY",
            origin="Derived",
            role="Record Qualifier",
            method="Y on the test's last non-missing result dated before RFXSTDTC (dose 1).",
        ),
        *visit_vars(),
        epoch_var(),
        V(f"{d}DTC", dtc_label, role="Timing"),
        V(f"{d}DY", dy_label, "Num", origin="Derived", role="Timing"),
    ]
    return tuple(v for v in chosen if v is not None)


def _label(d: str, what: str) -> str:
    names = {
        ("LB", "TESTCD"): "Lab Test or Examination Short Name",
        ("LB", "TEST"): "Lab Test or Examination Name",
        ("VS", "TESTCD"): "Vital Signs Test Short Name",
        ("VS", "TEST"): "Vital Signs Test Name",
        ("FA", "TESTCD"): "Findings About Test Short Name",
        ("FA", "TEST"): "Findings About Test Name",
        ("DD", "TESTCD"): "Death Detail Assessment Short Name",
        ("DD", "TEST"): "Death Detail Assessment Name",
    }
    default = "Short Name of Test" if what == "TESTCD" else "Name of Test"
    return names.get((d, what), default)


def flag_last_before_exposure(ctx: Context, d: str, rows: list[dict[str, Any]], group: tuple[str, ...]) -> None:
    """Set --LOBXFL on each (subject, group) last non-missing result dated before dose 1."""
    best: dict[tuple[Any, ...], tuple[datetime, int]] = {}
    for index, row in enumerate(rows):
        row[f"{d}LOBXFL"] = ""
        first = ctx.lines[row["USUBJID"]].first_dose
        if first is None or row[f"{d}STRESC"] in ("", None):
            continue
        when = _pre_dose_moment(row[f"{d}DTC"], first.at, ctx.visits.target_day(row.get("_visit", "")))
        if when is None:
            continue
        key = (row["USUBJID"], *(row.get(g) for g in group))
        if key not in best or when >= best[key][0]:
            best[key] = (when, index)
    for _, index in best.values():
        rows[index][f"{d}LOBXFL"] = "Y"


def _pre_dose_moment(dtc: str, first_dose: datetime, planned_day: int | None) -> datetime | None:
    """The record's moment if it is before dose 1 (a date alone: a day before dose 1's), else None."""
    if dtc and "T" in dtc:
        moment = datetime.fromisoformat(dtc)
        return moment if moment < first_dose else None
    if dtc:
        on = date.fromisoformat(dtc[:10])
        return datetime.combine(on, datetime.min.time()) if on < first_dose.date() else None
    if planned_day is not None and planned_day < 0:
        return datetime.min
    return None


def _range_indicator(value: float | None, low: float | None, high: float | None) -> str:
    if value is None or (low is None and high is None):
        return ""
    if low is not None and value < low:
        return "LOW"
    if high is not None and value > high:
        return "HIGH"
    return "NORMAL"


# ---- LB --------------------------------------------------------------------------------------------------

# Original unit as entered -> (its UNIT term, factor to the test's standard unit)
_COUNT = {
    "cells/mm3": ("10^6/L", 0.001), "cells/uL": ("10^6/L", 0.001), "/uL": ("10^6/L", 0.001),
    "/mm3": ("10^6/L", 0.001), "10^9/L": ("10^9/L", 1.0), "10^3/uL": ("10^9/L", 1.0), "x10^9/L": ("10^9/L", 1.0),
}  # fmt: skip
# form item -> (LBTESTCD, LBTEST, LBCAT, LBSPEC, LOINC, standard unit, {entered unit: (UNIT term, factor)})
LAB_TESTS: dict[str, tuple[str, str, str, str, str, str, dict[str, tuple[str, float]]]] = {
    "wbc": ("WBC", "Leukocytes", "HEMATOLOGY", "BLOOD", "6690-2", "10^9/L", _COUNT),
    "neutrophils": ("NEUT", "Neutrophils", "HEMATOLOGY", "BLOOD", "751-8", "10^9/L", _COUNT),
    "alc": ("LYM", "Lymphocytes", "HEMATOLOGY", "BLOOD", "731-0", "10^9/L", _COUNT),
    "platelets": ("PLAT", "Platelets", "HEMATOLOGY", "BLOOD", "777-3", "10^9/L", _COUNT),
    "hemoglobin": ("HGB", "Hemoglobin", "HEMATOLOGY", "BLOOD", "718-7", "g/dL",
                   {"g/dL": ("g/dL", 1.0), "g/L": ("g/L", 0.1)}),
    "alt": ("ALT", "Alanine Aminotransferase", "CHEMISTRY", "SERUM OR PLASMA", "1742-6", "U/L", {"U/L": ("U/L", 1.0)}),
    "ast": ("AST", "Aspartate Aminotransferase", "CHEMISTRY", "SERUM OR PLASMA", "1920-8", "U/L",
            {"U/L": ("U/L", 1.0)}),
    "bilirubin": ("BILI", "Bilirubin", "CHEMISTRY", "SERUM OR PLASMA", "1975-2", "mg/dL",
                  {"mg/dL": ("mg/dL", 1.0), "umol/L": ("umol/L", 1 / 17.1)}),
    "creatinine": ("CREAT", "Creatinine", "CHEMISTRY", "SERUM OR PLASMA", "2160-0", "mg/dL",
                   {"mg/dL": ("mg/dL", 1.0), "umol/L": ("umol/L", 1 / 88.4)}),
    "ferritin": ("FERRITIN", "Ferritin", "CHEMISTRY", "SERUM OR PLASMA", "2276-4", "ng/mL",
                 {"ng/mL": ("ng/mL", 1.0)}),
    "crp": ("CRP", "C Reactive Protein", "CHEMISTRY", "SERUM OR PLASMA", "1988-5", "mg/L", {"mg/L": ("mg/L", 1.0)}),
    # D-dimer in fibrinogen equivalent units: ug/L FEU is the same number as ng/mL FEU.
    "d_dimer": ("DDIMER", "D-Dimer", "COAGULATION", "PLASMA", "48065-7", "ng/mL FEU",
                {"ug/L FEU": ("ng/mL FEU", 1.0)}),
}  # fmt: skip
_LIMITS = ("lln", "uln")


def _convert(value: str, unit: str, factors: dict[str, tuple[str, float]]) -> tuple[str, float | None]:
    term, factor = factors.get(unit, ("", 0.0))
    parsed = number(value)
    return term, (None if parsed is None or not term else round(parsed * factor, 6))


def _lab_row(ctx: Context, s: Subject, item: str, value: str, unit: str, low: str, high: str, dtc: str,
             visit: str, spid: str) -> dict[str, Any]:  # fmt: skip
    testcd, test, category, specimen, loinc, std_unit, factors = LAB_TESTS[item]
    unit_term, standard = _convert(value, unit, factors)
    _, std_low = _convert(low, unit, factors) if low else ("", None)
    _, std_high = _convert(high, unit, factors) if high else ("", None)
    return {
        **base(ctx.snapshot, s, "LB"),
        "LBSPID": spid,
        "LBTESTCD": testcd,
        "LBTEST": test,
        "LBCAT": category,
        "LBORRES": value,
        "LBORRESU": unit_term,
        "LBORNRLO": low,
        "LBORNRHI": high,
        "LBSTRESC": "" if standard is None else f"{standard:g}",
        "LBSTRESN": standard,
        "LBSTRESU": std_unit if standard is not None else "",
        "LBSTNRLO": std_low,
        "LBSTNRHI": std_high,
        "LBNRIND": _range_indicator(standard, std_low, std_high),
        "LBSPEC": specimen,
        "LBLOINC": loinc,
        **ctx.visits.columns(visit),
        "EPOCH": ctx.epoch(s, dtc, visit),
        "LBDTC": dtc,
        "LBDY": study_day(s, dtc),
        "_visit": visit,
    }


def _screening_labs(ctx: Context, s: Subject) -> list[dict[str, Any]]:
    """The screening record's ALC counts and its ALT and AST (with their ULN), at the SCREENING visit."""
    rows = []
    record = s.screening
    for index, count in enumerate(record.get("alc") or [], start=1):
        if count.get("value") is None:
            continue
        value = format(count["value"], "g")
        rows.append(_lab_row(ctx, s, "alc", value, str(count.get("unit") or ""), "", "", iso(s, count.get("time")),
                             "SCREENING", f"SCREENING-ALC-{index}"))  # fmt: skip
    for item in ("alt", "ast"):
        result = record.get(item) or {}
        if result.get("value") is None:
            continue
        uln = "" if result.get("uln") is None else format(result["uln"], "g")
        rows.append(_lab_row(ctx, s, item, format(result["value"], "g"), str(result.get("unit") or ""), "", uln,
                             iso(s, result.get("time")), "SCREENING", f"SCREENING-{item.upper()}"))  # fmt: skip
    return rows


def build_lb(ctx: Context) -> Dataset:
    rows = []
    for s in ctx.snapshot.subjects:
        rows += _screening_labs(ctx, s)
        for r in s.forms_of("LAB"):
            dtc = iso(s, r.get("collected_at"))
            for item in LAB_TESTS:
                value, unit = r.values.get(item, ("", ""))
                if value == "":
                    continue
                rows.append(
                    _lab_row(
                        ctx,
                        s,
                        item,
                        value,
                        unit,
                        r.get(f"{item}_lln"),
                        r.get(f"{item}_uln"),
                        dtc,
                        r.visit,
                        f"LAB-{r.visit or r.instance}",
                    )
                )
    flag_last_before_exposure(ctx, "LB", rows, ("LBTESTCD", "LBSPEC"))
    rows = sequenced("LB", rows, lambda r: (r["VISITNUM"] or 0, r["LBDTC"], r["LBTESTCD"], r["LBSPID"]))
    return make_dataset(
        "LB",
        "Laboratory Test Results",
        klass="FINDINGS",
        structure="One record per lab test per time point per visit per subject",
        keys=("STUDYID", "USUBJID", "LBTESTCD", "LBSPEC", "VISITNUM", "LBDTC", "LBSPID"),
        variables=findings_vars("LB", testcd="LBTESTCD", test="LBTEST", ranges=True, loinc=True, spec=True),
        rows=rows,
    )


# ---- CP: T-cell subsets by flow cytometry (SDTMIG 3.4) -----------------------------------------------------

# form item -> (CPTESTCD, CPTEST, marker string)
CELL_TESTS = {"cd4": ("TLYH", "TLym Help", "CD3+CD4+"), "cd8": ("TLC", "TLym Cytx", "CD3+CD8+")}


def build_cp(ctx: Context) -> Dataset:
    rows = []
    for s in ctx.snapshot.subjects:
        for r in s.forms_of("LAB"):
            dtc = iso(s, r.get("collected_at"))
            for item, (testcd, test, markers) in CELL_TESTS.items():
                value, unit = r.values.get(item, ("", ""))
                if value == "":
                    continue
                unit_term, standard = _convert(value, unit, _COUNT)
                rows.append(
                    {
                        **base(ctx.snapshot, s, "CP"),
                        "CPSPID": f"LAB-{r.visit or r.instance}",
                        "CPTESTCD": testcd,
                        "CPTEST": test,
                        "CPMRKSTR": markers,
                        "CPCAT": "IMMUNOPHENOTYPING",
                        "CPORRES": value,
                        "CPORRESU": unit_term,
                        "CPSTRESC": "" if standard is None else f"{standard:g}",
                        "CPSTRESN": standard,
                        "CPSTRESU": "10^9/L" if standard is not None else "",
                        "CPSPEC": "BLOOD",
                        **ctx.visits.columns(r.visit),
                        "EPOCH": ctx.epoch(s, dtc, r.visit),
                        "CPDTC": dtc,
                        "CPDY": study_day(s, dtc),
                        "_visit": r.visit,
                    }
                )
    flag_last_before_exposure(ctx, "CP", rows, ("CPTESTCD", "CPSPEC"))
    rows = sequenced("CP", rows, lambda r: (r["VISITNUM"] or 0, r["CPDTC"], r["CPTESTCD"]))
    marker_var = V("CPMRKSTR", "Marker String", origin="Assigned", role="Record Qualifier",
                comment="The markers of the LAB form's CD4+ and CD8+ T-cell counts.")  # fmt: skip
    return make_dataset(
        "CP",
        "Cell Phenotype Findings",
        klass="FINDINGS",
        structure="One record per test per specimen per timepoint per visit per subject",
        keys=("STUDYID", "USUBJID", "CPTESTCD", "VISITNUM", "CPDTC"),
        variables=findings_vars("CP", testcd="CPTESTCD", test="CPTEST", extra_topic=(marker_var,), spec=True),
        rows=rows,
    )


# ---- MB: SARS-CoV-2 ------------------------------------------------------------------------------------------

# (MBTESTCD, MBTEST, LOINC)
DETECTION = ("SARSCOV2", "SARS-CoV-2", "94500-6")
CYCLE_THRESHOLD = ("SCV2CT", "SARS-CoV-2 Cycle Threshold", "94745-7")
VIRAL_LOAD = ("SCV2VLD", "SARS-CoV-2 Viral Load", "")
_SPECIMEN = {
    "nasopharyngeal": ("SWABBED MATERIAL", "NASOPHARYNX"),
    "oropharyngeal": ("SWABBED MATERIAL", "OROPHARYNX"),
    "lower_respiratory": ("LOWER RESPIRATORY TRACT SECRETION", ""),
    "other": ("", ""),
}
NAAT = "REVERSE TRANSCRIPTASE POLYMERASE CHAIN REACTION"


def build_mb(ctx: Context) -> Dataset:
    rows = []
    for s in ctx.snapshot.subjects:
        for r in s.forms_of("VIRAL-LOAD"):
            dtc = iso(s, r.get("collected_at"))
            specimen, location = _SPECIMEN.get(r.get("specimen"), ("", ""))
            results: list[tuple[tuple[str, str, str], str, str, float | None]] = []
            if r.get("detected"):
                results.append((DETECTION, "POSITIVE" if yn(r.get("detected")) == "Y" else "NEGATIVE", "", None))
            if r.get("ct_value"):
                results.append((CYCLE_THRESHOLD, r.get("ct_value"), "", number(r.get("ct_value"))))
            if r.get("log10_copies_per_ml"):
                value = r.get("log10_copies_per_ml")
                results.append((VIRAL_LOAD, value, "log10 copies/mL", number(value)))
            for (testcd, test, loinc), value, unit, numeric in results:
                rows.append(
                    {
                        **base(ctx.snapshot, s, "MB"),
                        "MBSPID": f"VIRAL-LOAD-{r.visit or r.instance}",
                        "MBTESTCD": testcd,
                        "MBTEST": test,
                        "MBCAT": "VIROLOGY",
                        "MBORRES": value,
                        "MBORRESU": unit,
                        "MBSTRESC": value if numeric is None else f"{numeric:g}",
                        "MBSTRESN": numeric,
                        "MBSTRESU": unit,
                        "MBSPEC": specimen,
                        "MBLOC": location,
                        "MBMETHOD": NAAT,
                        "MBLOINC": loinc,
                        **ctx.visits.columns(r.visit),
                        "EPOCH": ctx.epoch(s, dtc, r.visit),
                        "MBDTC": dtc,
                        "MBDY": study_day(s, dtc),
                        "_visit": r.visit,
                    }
                )
    flag_last_before_exposure(ctx, "MB", rows, ("MBTESTCD", "MBSPEC", "MBMETHOD"))
    rows = sequenced("MB", rows, lambda r: (r["VISITNUM"] or 0, r["MBDTC"], r["MBTESTCD"]))
    return make_dataset(
        "MB",
        "Microbiology Specimen",
        klass="FINDINGS",
        structure="One record per microbiology specimen finding per time point per visit per subject",
        keys=("STUDYID", "USUBJID", "MBTESTCD", "VISITNUM", "MBDTC"),
        variables=findings_vars("MB", testcd="MBTESTCD", test="MBTEST", spec=True, method=True, loinc=True),
        rows=rows,
    )


# ---- VS -----------------------------------------------------------------------------------------------------

# VITALS item -> (VSTESTCD, VSTEST, {entered unit: (UNIT term, factor)}, standard unit)
VITAL_TESTS: dict[str, tuple[str, str, dict[str, tuple[str, float]], str]] = {
    "systolic_bp": ("SYSBP", "Systolic Blood Pressure", {"mmHg": ("mmHg", 1.0), "": ("mmHg", 1.0)}, "mmHg"),
    "diastolic_bp": ("DIABP", "Diastolic Blood Pressure", {"mmHg": ("mmHg", 1.0), "": ("mmHg", 1.0)}, "mmHg"),
    "pulse": ("PULSE", "Pulse Rate", {"/min": ("beats/min", 1.0), "": ("beats/min", 1.0)}, "beats/min"),
    "respiratory_rate": ("RESP", "Respiratory Rate", {"/min": ("breaths/min", 1.0), "": ("breaths/min", 1.0)},
                         "breaths/min"),
    "temperature": ("TEMP", "Temperature", {"degC": ("C", 1.0), "": ("C", 1.0)}, "C"),
    "spo2": ("OXYSAT", "Oxygen Saturation", {"%": ("%", 1.0), "": ("%", 1.0)}, "%"),
}  # fmt: skip
_ACVPU = {"A": "ALERT", "C": "NEW CONFUSION", "V": "RESPONDS TO VOICE", "P": "RESPONDS TO PAIN", "U": "UNRESPONSIVE"}


def _vs_row(ctx: Context, s: Subject, testcd: str, test: str, category: str, value: str, unit: str,
            standard: float | None, std_unit: str, dtc: str, visit: str, group: str) -> dict[str, Any]:  # fmt: skip
    return {
        **base(ctx.snapshot, s, "VS"),
        "VSSPID": group,
        "VSGRPID": group,
        "VSTESTCD": testcd,
        "VSTEST": test,
        "VSCAT": category,
        "VSORRES": value,
        "VSORRESU": unit,
        "VSSTRESC": "" if standard is None else f"{standard:g}",
        "VSSTRESN": standard,
        "VSSTRESU": std_unit if standard is not None else "",
        **ctx.visits.columns(visit),
        "EPOCH": ctx.epoch(s, dtc, visit),
        "VSDTC": dtc,
        "VSDY": study_day(s, dtc),
        "_visit": visit,
    }


def build_vs(ctx: Context) -> Dataset:
    rows = []
    for s in ctx.snapshot.subjects:
        record = s.screening
        when = iso(s, record.get("baseline_time"))[:10]  # the day of the record's T0, at the site
        for key, testcd, test, unit in (
            ("weight_kg", "WEIGHT", "Weight", "kg"),
            ("height_cm", "HEIGHT", "Height", "cm"),
        ):
            if record.get(key) is not None:
                measured = float(record[key])
                text = format(measured, "g")
                rows.append(_vs_row(ctx, s, testcd, test, "ANTHROPOMETRY", text, unit, measured, unit, when,
                                    "SCREENING", "SCREENING"))  # fmt: skip
        for r in s.forms_of("VITALS"):
            dtc = iso(s, r.get("assessed_at"))
            group = f"VITALS-{r.visit or r.instance}"
            first: dict[str, Any] | None = None
            for item, (testcd, test, units, std_unit) in VITAL_TESTS.items():
                value, unit = r.values.get(item, ("", ""))
                if value == "":
                    continue
                unit_term, standard = _convert(value, unit, units)
                row = _vs_row(ctx, s, testcd, test, "NEWS2 OBSERVATIONS", value, unit_term, standard, std_unit, dtc,
                              r.visit, group)  # fmt: skip
                rows.append(row)
                first = first or row
            if first is not None:
                # NEWS2 inputs that are no vital sign test: qualifiers of the whole VITALS form (its VSGRPID).
                on_oxygen = yn(r.get("on_supplemental_oxygen"))
                flow = r.get("oxygen_flow_lpm")
                supp_group(first, "VSO2SUPP", "On Supplemental Oxygen", on_oxygen)
                supp_group(first, "VSO2FLOW", "Oxygen Flow (L/min)", flow)
                supp_group(first, "VSSPO2SC", "NEWS2 SpO2 Scale", r.get("spo2_scale"))
                supp_group(first, "VSACVPU", "Consciousness (ACVPU)", _ACVPU.get(r.get("consciousness"), ""))
    flag_last_before_exposure(ctx, "VS", rows, ("VSTESTCD",))
    rows = sequenced("VS", rows, lambda r: (r["VSDTC"], r["VSSPID"], r["VSTESTCD"]))
    group_var = V("VSGRPID", "Group ID", origin="Assigned", role="Identifier",
              comment="One VITALS form (the NEWS2 observations); SUPPVS qualifies the group.")  # fmt: skip
    variables = findings_vars("VS", testcd="VSTESTCD", test="VSTEST")
    variables = (*variables[:4], group_var, *variables[4:])
    return make_dataset(
        "VS",
        "Vital Signs",
        klass="FINDINGS",
        structure="One record per vital sign measurement per time point per visit per subject",
        keys=("STUDYID", "USUBJID", "VSTESTCD", "VSDTC", "VSSPID"),
        variables=variables,
        rows=rows,
    )


def supp_group(row: dict[str, Any], qnam: str, qlabel: str, value: str) -> None:
    from iliad7.standards.sdtm import supp

    supp(row, qnam, qlabel, value, idvar="VSGRPID")


# ---- RS: NEWS2, SOFA, WHO Clinical Progression Scale, Clinical Frailty Scale ---------------------------------

# (RSTESTCD, RSTEST, RSCAT)
NEWS2 = ("NEWS2TOT", "NEWS2 Total Score", "NEWS2")
SOFA = ("SOFATOT", "SOFA Total Score", "SOFA")
WHO = ("WHOCPS", "WHO Clinical Progression Scale Score", "WHO CLINICAL PROGRESSION SCALE")
CFS = ("CFS", "Clinical Frailty Scale Score", "CLINICAL FRAILTY SCALE")
# form -> (derived item, date item, test)
SCALES = (("VITALS", "news2", "assessed_at", NEWS2), ("SOFA", "sofa", "assessed_on", SOFA),
          ("CLINICAL-STATUS", "who_scale", "assessed_on", WHO))  # fmt: skip
# Items of the forms a scale is scored from that have no SDTM variable: qualifiers of the score's record.
SCALE_INPUTS: dict[str, tuple[tuple[str, str, str], ...]] = {
    "CLINICAL-STATUS": (
        ("dead", "RSDEAD", "Dead"), ("hospitalized", "RSHOSP", "In Hospital"),
        ("sars_cov_2_rna_detected", "RSRNADET", "SARS-CoV-2 RNA Detected"), ("symptomatic", "RSSYMPT", "Symptomatic"),
        ("needs_assistance", "RSASSIST", "Needs Assistance with Daily Activities"),
        ("oxygen_support", "RSO2SUPP", "Highest Oxygen Support of the Day"), ("pf_ratio", "RSPFRAT", "PaO2/FiO2"),
        ("sf_ratio", "RSSFRAT", "SpO2/FiO2"), ("vasopressors", "RSVASOP", "Vasopressors"),
        ("dialysis", "RSDIALYS", "Dialysis or Renal Replacement"),
    ),
    "SOFA": (
        ("pao2_fio2", "RSPAOFIO", "PaO2/FiO2 (mmHg)"), ("respiratory_support", "RSRESPSP", "Ventilated"),
        ("platelets", "RSPLAT", "Platelets"), ("bilirubin", "RSBILI", "Total Bilirubin"),
        ("map", "RSMAP", "Mean Arterial Pressure (mmHg)"), ("dopamine", "RSDOPA", "Dopamine (ug/kg/min)"),
        ("epinephrine", "RSEPI", "Epinephrine (ug/kg/min)"),
        ("norepinephrine", "RSNOREPI", "Norepinephrine (ug/kg/min)"),
        ("dobutamine", "RSDOBUT", "Dobutamine"), ("gcs", "RSGCS", "Glasgow Coma Scale"),
        ("creatinine", "RSCREAT", "Creatinine"), ("urine_output", "RSURINE", "Urine Output (mL/day)"),
    ),
}  # fmt: skip


def _rs_row(ctx: Context, s: Subject, scale: tuple[str, str, str], value: str, dtc: str, visit: str,
            spid: str) -> dict[str, Any]:  # fmt: skip
    testcd, test, category = scale
    return {
        **base(ctx.snapshot, s, "RS"),
        "RSSPID": spid,
        "RSTESTCD": testcd,
        "RSTEST": test,
        "RSCAT": category,
        "RSORRES": value,
        "RSSTRESC": value,
        "RSSTRESN": number(value),
        **ctx.visits.columns(visit),
        "EPOCH": ctx.epoch(s, dtc, visit),
        "RSDTC": dtc,
        "RSDY": study_day(s, dtc),
        "_visit": visit,
    }


def build_rs(ctx: Context) -> Dataset:
    from iliad7.standards.sdtm import supp

    rows = []
    for s in ctx.snapshot.subjects:
        record = s.screening
        for index, entry in enumerate(record.get("news2") or [], start=1):
            if entry.get("score") is not None:
                rows.append(_rs_row(ctx, s, NEWS2, str(entry["score"]), iso(s, entry.get("time")), "SCREENING",
                                    f"SCREENING-NEWS2-{index}"))  # fmt: skip
        t0 = iso(s, record.get("baseline_time"))
        for key, scale in (("sofa", SOFA), ("clinical_frailty_scale", CFS)):
            if record.get(key) is not None:
                rows.append(_rs_row(ctx, s, scale, str(record[key]), t0, "SCREENING", f"SCREENING-{scale[0]}"))
        for form, item, date_item, scale in SCALES:
            for r in s.forms_of(form):
                value = r.get(item)
                if value == "":
                    continue
                row = _rs_row(
                    ctx, s, scale, value, iso(s, r.get(date_item)), r.visit, f"{form}-{r.visit or r.instance}"
                )
                for source, qnam, qlabel in SCALE_INPUTS.get(form, ()):
                    raw = r.get(source)
                    text = yn(raw) if raw in ("true", "false") else raw.replace("_", " ").upper()
                    unit = r.unit(source)
                    supp(row, qnam, qlabel, f"{text} {unit}".strip() if text else "")
                rows.append(row)
    flag_last_before_exposure(ctx, "RS", rows, ("RSTESTCD",))
    rows = sequenced("RS", rows, lambda r: (r["RSCAT"], r["RSDTC"], r["RSSPID"]))
    return make_dataset(
        "RS",
        "Disease Response and Clin Classification",
        klass="FINDINGS",
        structure="One record per clinical classification assessment per time point per visit per subject",
        keys=("STUDYID", "USUBJID", "RSTESTCD", "RSDTC", "RSSPID"),
        variables=findings_vars(
            "RS",
            testcd="RSTESTCD",
            test="RSTEST",
            units=False,
            dtc_label="Date/Time of Assessment",
            dy_label="Study Day of Assessment",
        ),
        rows=rows,
    )


# ---- FA: the Secondary Infections Committee's decisions about the secondary infections (CE) ----------------

_DECISION = {"confirmed": "CONFIRMED", "not_confirmed": "NOT CONFIRMED"}


def build_fa(ctx: Context) -> Dataset:
    """One record per adjudicated secondary infection: the committee's current decision, taken blind to the arm.

    FAOBJ names the infection as CE does (its CEDECOD when coded, else its CETERM) and FASPID is CE's
    CESPID (the SECONDARY-INFECTION form instance). No RELREC record ties them: offline, CORE's rules on
    related FA and CE records (CORE-000744, -000766, -000767) need the CDISC Library's model metadata to
    read the parent's --TERM and flag every related record (docs/standards.md).
    """
    from iliad7.standards.sdtm import infection_term

    rows = []
    for s in ctx.snapshot.subjects:
        for r in s.forms_of("SECONDARY-INFECTION"):
            decision = s.adjudications.get(r.instance)
            if decision is None:
                continue
            term = infection_term(r)
            coding = ctx.meddra.code(term)
            start = iso(s, r.get("onset_date"))
            rows.append(
                {
                    **base(ctx.snapshot, s, "FA"),
                    "FASPID": str(r.instance),
                    "FATESTCD": "ADJRES",
                    "FATEST": "Adjudication Result",
                    "FAOBJ": coding.pt if coding.coded else term,
                    "FACAT": "SECONDARY INFECTIONS COMMITTEE",
                    "FAORRES": _DECISION[decision],
                    "FASTRESC": _DECISION[decision],
                    "EPOCH": ctx.epoch(s, start),
                    "FADTC": "",
                    "FADY": None,
                }
            )
    rows = sequenced("FA", rows, lambda r: int(r["FASPID"]))
    variables = (
        *ID_VARS,
        seq_var("FA"),
        V("FASPID", "Sponsor-Defined Identifier", origin="Assigned", role="Identifier",
          comment="The SECONDARY-INFECTION form instance: the CE record with the same CESPID."),
        V("FATESTCD", "Findings About Test Short Name", codelist="FATESTCD", origin="Assigned", role="Topic"),
        V("FATEST", "Findings About Test Name", codelist="FATEST", origin="Assigned", role="Synonym Qualifier"),
        V("FAOBJ", "Object of the Observation", origin="Assigned", role="Synonym Qualifier"),
        V("FACAT", "Category for Findings About", origin="Assigned", role="Grouping Qualifier"),
        V("FAORRES", "Result or Finding in Original Units", codelist="ADJRES", role="Result Qualifier",
          comment="The Secondary Infections Committee's current decision, taken blind to the arm."),
        V("FASTRESC", "Character Result/Finding in Std Format", codelist="ADJRES", origin="Derived",
          role="Result Qualifier"),
        epoch_var(),
        V("FADTC", "Date/Time of Collection", role="Timing",
          comment="Null: the time of each decision is in the trial database's audit trail."),
        V("FADY", "Study Day of Collection", "Num", origin="Derived", role="Timing"),
    )  # fmt: skip
    return make_dataset("FA", "Findings About Events or Interventions", klass="FINDINGS ABOUT",
                        structure="One record per adjudication per secondary infection per subject",
                        keys=("STUDYID", "USUBJID", "FATESTCD", "FAOBJ", "FASPID"), variables=variables,
                        rows=rows)  # fmt: skip


# ---- DD: death details -----------------------------------------------------------------------------------------

_CAUSE = {"covid_19": "COVID-19", "cancer": "CANCER", "adverse_event": "ADVERSE EVENT", "other": "OTHER",
          "unknown": "UNKNOWN"}  # fmt: skip


def build_dd(ctx: Context) -> Dataset:
    from iliad7.standards.sdtm import supp

    rows = []
    for s in ctx.snapshot.subjects:
        for r in s.forms_of("DEATH"):
            dtc = iso(s, r.get("death_date"))
            row = {
                **base(ctx.snapshot, s, "DD"),
                "DDTESTCD": "PRCDTH",
                "DDTEST": "Primary Cause of Death",
                "DDORRES": r.get("cause_text")[:200] or _CAUSE.get(r.get("primary_cause"), ""),
                "DDSTRESC": _CAUSE.get(r.get("primary_cause"), ""),
                "EPOCH": ctx.epoch(s, dtc),
                "DDDTC": dtc,
                "DDDY": study_day(s, dtc),
            }
            supp(row, "DDAUTOP", "Autopsy Performed", yn(r.get("autopsy")))
            rows.append(row)
    rows = sequenced("DD", rows, lambda r: r["DDDTC"])
    variables = (
        *ID_VARS,
        seq_var("DD"),
        V("DDTESTCD", "Death Detail Assessment Short Name", codelist="DDTESTCD", origin="Assigned", role="Topic"),
        V("DDTEST", "Death Detail Assessment Name", codelist="DDTEST", origin="Assigned", role="Synonym Qualifier"),
        V("DDORRES", "Result or Finding as Collected", role="Result Qualifier",
          comment="The cause of death as written on the DEATH form."),
        V("DDSTRESC", "Character Result/Finding in Std Format", origin="Derived", role="Result Qualifier",
          comment="The DEATH form's primary cause category."),
        epoch_var(),
        V("DDDTC", "Date/Time of Collection", role="Timing", comment="The date of death."),
        V("DDDY", "Study Day of Collection", "Num", origin="Derived", role="Timing"),
    )  # fmt: skip
    return make_dataset("DD", "Death Details", klass="FINDINGS", structure="One record per finding per subject",
                        keys=("STUDYID", "USUBJID", "DDTESTCD"), variables=variables, rows=rows)  # fmt: skip
