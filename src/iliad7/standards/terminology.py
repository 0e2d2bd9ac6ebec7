"""The controlled terminology the SDTM and ADaM datasets use: CDISC codelists and this trial's own.

Each codelist names its NCI code where it is a CDISC Controlled Terminology
codelist (the subset of its terms this trial uses; the full lists are in the
CDISC CT package, which cannot be downloaded here) and `None` where it is
sponsor-defined because CDISC has none (documented in docs/standards.md).
`extensible` says whether CDISC allows sponsor terms in the list.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Codelist:
    name: str
    nci_code: str | None  # None: sponsor-defined
    extensible: bool
    terms: dict[str, str]  # submission value -> decode


def _cl(name: str, nci: str | None, extensible: bool, terms: dict[str, str]) -> Codelist:
    return Codelist(name, nci, extensible, terms)


CODELISTS: dict[str, Codelist] = {
    c.name: c
    for c in (
        _cl(
            "SEX", "C66731", False, {"F": "Female", "M": "Male", "U": "Unknown", "UNDIFFERENTIATED": "Undifferentiated"}
        ),
        _cl("NY", "C66742", False, {"N": "No", "Y": "Yes", "U": "Unknown", "NA": "Not Applicable"}),
        _cl("AGEU", "C66781", False, {"YEARS": "Years"}),
        _cl("COUNTRY", "C66786", False, {"USA": "United States"}),
        _cl("ROUTE", "C66729", True, {"INTRAMUSCULAR": "Intramuscular Route of Administration"}),
        _cl("EPOCH", "C99079", True, {"SCREENING": "Screening", "TREATMENT": "Treatment", "FOLLOW-UP": "Follow-up"}),
        _cl(
            "DSCAT",
            "C74558",
            False,
            {"DISPOSITION EVENT": "Disposition Event", "PROTOCOL MILESTONE": "Protocol Milestone"},
        ),
        _cl(
            "NCOMPLT",
            "C66727",
            True,
            {
                "COMPLETED": "Completed",
                "DEATH": "Death",
                "WITHDRAWAL BY SUBJECT": "Withdrawal by Subject",
                "PHYSICIAN DECISION": "Physician Decision",
                "LOST TO FOLLOW-UP": "Lost to Follow-up",
            },
        ),
        _cl(
            "PROTMLST",
            "C114118",
            True,
            {"INFORMED CONSENT OBTAINED": "Informed Consent Obtained", "RANDOMIZED": "Randomized"},
        ),
        _cl(
            "LBTESTCD",
            "C65047",
            True,
            {
                "LYM": "Lymphocytes",
                "CD4": "CD4 Cells",
                "CD8": "CD8 Cells",
                "FERRITIN": "Ferritin",
                "CRP": "C Reactive Protein",
                "DDIMER": "D-Dimer",
                "WBC": "Leukocytes",
                "NEUT": "Neutrophils",
                "PLAT": "Platelets",
                "HGB": "Hemoglobin",
                "ALT": "Alanine Aminotransferase",
                "AST": "Aspartate Aminotransferase",
                "BILI": "Bilirubin",
                "CREAT": "Creatinine",
            },
        ),
        _cl(
            "VSTESTCD",
            "C66741",
            True,
            {
                "SYSBP": "Systolic Blood Pressure",
                "DIABP": "Diastolic Blood Pressure",
                "PULSE": "Pulse Rate",
                "RESP": "Respiratory Rate",
                "TEMP": "Temperature",
                "OXYSAT": "Oxygen Saturation",
            },
        ),
        _cl(
            "UNIT",
            "C71620",
            True,
            {
                "10^9/L": "10^9/L",
                "ng/mL": "ng/mL",
                "mg/L": "mg/L",
                "ug/L": "ug/L",
                "U/L": "U/L",
                "mg/dL": "mg/dL",
                "g/dL": "g/dL",
                "g/L": "g/L",
                "umol/L": "umol/L",
                "mmHg": "mmHg",
                "%": "%",
                "C": "C",
                "beats/min": "beats/min",
                "breaths/min": "breaths/min",
                "mL": "mL",
                "ug": "ug",
                "kg": "kg",
                "cm": "cm",
            },
        ),
        _cl(
            "OUT",
            "C66768",
            False,
            {
                "RECOVERED/RESOLVED": "Recovered/Resolved",
                "RECOVERING/RESOLVING": "Recovering/Resolving",
                "NOT RECOVERED/NOT RESOLVED": "Not Recovered/Not Resolved",
                "RECOVERED/RESOLVED WITH SEQUELAE": "Recovered/Resolved with Sequelae",
                "FATAL": "Fatal",
                "UNKNOWN": "Unknown",
            },
        ),
        _cl("TOXGR", "C87214", False, {str(g): f"Grade {g}" for g in range(1, 6)}),  # CTCAE grade (AETOXGR)
        _cl(
            "TSPARMCD",
            "C66738",
            True,
            {
                "TITLE": "Trial Title",
                "TPHASE": "Trial Phase Classification",
                "STYPE": "Study Type",
                "RANDOM": "Trial is Randomized",
                "TBLIND": "Trial Blinding Schema",
                "TCNTRL": "Control Type",
                "INTMODEL": "Intervention Model",
                "NARMS": "Planned Number of Arms",
                "PLANSUB": "Planned Number of Subjects",
                "SPONSOR": "Clinical Study Sponsor",
                "REGID": "Registry Identifier",
                "TRT": "Investigational Therapy or Treatment",
                "ROUTE": "Route of Administration",
                "SSTDTC": "Study Start Date",
                "SDTIGVER": "SDTM IG Version",
                "ACTSUB": "Actual Number of Subjects",
                "INDIC": "Trial Disease/Condition Indication",
            },
        ),
        # Sponsor-defined (no CDISC codelist): this trial's arms, its blinded placeholder, visits, sites.
        _cl("ARMCD", None, False, {"CYT107": "CYT107 Treatment", "PLACEBO": "Saline control", "BLINDED": "Blinded"}),
        _cl(
            "SITEID",
            None,
            False,
            {"MSKCC": "Memorial Sloan Kettering Cancer Center", "MDACC": "MD Anderson Cancer Center"},
        ),
        _cl("MBTESTCD", None, False, {"SARSCOV2": "SARS-CoV-2"}),
        _cl(
            "RSTESTCD",
            None,
            False,
            {
                "NEWS2TOT": "NEWS2 Total Score",
                "SOFATOT": "SOFA Total Score",
                "WHOCPS": "WHO Clinical Progression Scale",
            },
        ),
        _cl("TRT01P", None, False, {"CYT107": "CYT107", "placebo": "placebo"}),
        _cl(
            "PARAMCD_ADLB",
            None,
            False,
            {
                "LYM": "Lymphocytes, absolute (10^9/L)",
                "CD4": "CD4+ T cells (10^9/L)",
                "CD8": "CD8+ T cells (10^9/L)",
                "FERRITIN": "Ferritin (ng/mL)",
                "CRP": "C-reactive protein (mg/L)",
                "DDIMER": "D-dimer (ug/L FEU)",
                "WBC": "Leukocytes (10^9/L)",
                "NEUT": "Neutrophils (10^9/L)",
                "PLAT": "Platelets (10^9/L)",
                "HGB": "Hemoglobin (g/dL)",
                "ALT": "ALT (U/L)",
                "AST": "AST (U/L)",
                "BILI": "Bilirubin (mg/dL)",
                "CREAT": "Creatinine (mg/dL)",
            },
        ),
        _cl("PARAMCD_ADTTE", None, False, {"TTDTH45": "Time to death through day 45 (days)"}),
    )
}


def decode(codelist: str, term: str) -> str:
    return CODELISTS[codelist].terms[term]
