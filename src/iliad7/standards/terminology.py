"""The controlled terminology the SDTM and ADaM datasets use: CDISC codelists and this trial's own.

Each codelist names its NCI code where it is a CDISC Controlled Terminology codelist (CDISC CT
package `CT_VERSION`, SDTM and ADaM; only the terms this trial uses are carried, since the CT
package cannot be downloaded here) and `None` where it is sponsor-defined because CDISC has none
(documented in docs/standards.md). `extensible` says whether CDISC allows sponsor terms in the
list; `extended` names the terms this trial adds to an extensible CDISC codelist (define.xml marks
them def:ExtendedValue="Yes"), so a term is never passed off as CDISC's when it is the sponsor's.
"""

from __future__ import annotations

from dataclasses import dataclass, field

CT_VERSION = "2024-09-27"  # the CDISC CT package (SDTM and ADaM) the codelist subsets follow


@dataclass(frozen=True)
class Codelist:
    name: str
    nci_code: str | None  # None: sponsor-defined
    extensible: bool
    terms: dict[str, str]  # submission value -> decode
    extended: frozenset[str] = field(default=frozenset())  # sponsor terms added to a CDISC codelist


def _cl(
    name: str, nci: str | None, extensible: bool, terms: dict[str, str], extended: tuple[str, ...] = ()
) -> Codelist:
    unknown = set(extended) - set(terms)
    if unknown:
        raise ValueError(f"{name}: extended terms {sorted(unknown)} are not terms of the codelist")
    if extended and not (extensible and nci):
        raise ValueError(f"{name}: only an extensible CDISC codelist takes sponsor terms")
    return Codelist(name, nci, extensible, terms, frozenset(extended))


def _same(*terms: str) -> dict[str, str]:
    return {t: t.title() for t in terms}


CODELISTS: dict[str, Codelist] = {
    c.name: c
    for c in (
        # ---- CDISC SDTM CT --------------------------------------------------------------------------
        _cl(
            "SEX", "C66731", False, {"F": "Female", "M": "Male", "U": "Unknown", "UNDIFFERENTIATED": "Undifferentiated"}
        ),
        _cl("NY", "C66742", False, {"N": "No", "Y": "Yes", "U": "Unknown", "NA": "Not Applicable"}),
        _cl("AGEU", "C66781", False, {"YEARS": "Years"}),
        _cl("COUNTRY", "C66786", False, {"USA": "United States"}),
        _cl(
            "RACE",
            "C74457",
            True,
            {
                "AMERICAN INDIAN OR ALASKA NATIVE": "American Indian or Alaska Native",
                "ASIAN": "Asian",
                "BLACK OR AFRICAN AMERICAN": "Black or African American",
                "NATIVE HAWAIIAN OR OTHER PACIFIC ISLANDER": "Native Hawaiian or Other Pacific Islander",
                "WHITE": "White",
                "MULTIPLE": "Multiple",
                "NOT REPORTED": "Not Reported",
                "UNKNOWN": "Unknown",
            },
        ),
        _cl(
            "ETHNIC",
            "C66790",
            False,
            {
                "HISPANIC OR LATINO": "Hispanic or Latino",
                "NOT HISPANIC OR LATINO": "Not Hispanic or Latino",
                "NOT REPORTED": "Not Reported",
                "UNKNOWN": "Unknown",
            },
        ),
        _cl(
            "ARMNULRS",
            "C142179",
            True,
            {
                "SCREEN FAILURE": "Screen Failure",
                "ASSIGNED, NOT TREATED": "Assigned, Not Treated",
                "NOT ASSIGNED": "Not Assigned",
                "UNPLANNED TREATMENT": "Unplanned Treatment",
            },
        ),
        _cl("ROUTE", "C66729", True, {"INTRAMUSCULAR": "Intramuscular Route of Administration"}),
        _cl("FRM", "C66726", True, {"INJECTION": "Injection"}),
        _cl(
            "LOC",
            "C74456",
            True,
            {
                "DELTOID MUSCLE": "Deltoid Muscle",
                "THIGH": "Thigh",
                "NASOPHARYNX": "Nasopharynx",
                "OROPHARYNX": "Oropharynx",
            },
        ),
        _cl("LAT", "C99073", True, {"LEFT": "Left", "RIGHT": "Right"}),
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
                "SCREEN FAILURE": "Screen Failure",
            },
        ),
        _cl(
            "PROTMLST",
            "C114118",
            True,
            {"INFORMED CONSENT OBTAINED": "Informed Consent Obtained", "RANDOMIZED": "Randomized"},
        ),
        _cl("IECAT", "C66797", False, {"INCLUSION": "Inclusion", "EXCLUSION": "Exclusion"}),
        _cl(
            "ACN",
            "C66767",
            False,
            {
                "DOSE NOT CHANGED": "Dose Not Changed",
                "DRUG WITHDRAWN": "Drug Withdrawn",
                "DRUG INTERRUPTED": "Drug Interrupted",
                "NOT APPLICABLE": "Not Applicable",
                "UNKNOWN": "Unknown",
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
        _cl("HODECOD", "C171444", True, {"HOSPITAL": "Hospital", "INTENSIVE CARE UNIT": "Intensive Care Unit"}),
        _cl(
            "UNIT",
            "C71620",
            True,
            {
                "10^9/L": "10^9/L",
                "10^6/L": "10^6/L",
                "ng/mL": "ng/mL",
                "mg/L": "mg/L",
                "ng/mL FEU": "ng/mL FEU",
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
                "ug/kg": "ug/kg",
                "log10 copies/mL": "log10 copies/mL",
            },
            extended=("log10 copies/mL",),
        ),
        _cl("NRIND", "C78736", True, {"LOW": "Low", "NORMAL": "Normal", "HIGH": "High", "ABNORMAL": "Abnormal"}),
        _cl(
            "SPECTYPE",
            "C78734",
            True,
            {
                "BLOOD": "Blood",
                "SERUM OR PLASMA": "Serum or Plasma",
                "PLASMA": "Plasma",
                "SWABBED MATERIAL": "Swabbed Material",
                "LOWER RESPIRATORY TRACT SECRETION": "Lower Respiratory Tract Secretion",
            },
            extended=("LOWER RESPIRATORY TRACT SECRETION",),
        ),
        _cl(
            "METHOD",
            "C85492",
            True,
            {
                "REVERSE TRANSCRIPTASE POLYMERASE CHAIN REACTION": "Reverse Transcriptase Polymerase Chain Reaction",
            },
            extended=("REVERSE TRANSCRIPTASE POLYMERASE CHAIN REACTION",),
        ),
        _cl(
            "LBTESTCD",
            "C65047",
            True,
            {
                "WBC": "Leukocytes",
                "NEUT": "Neutrophils",
                "LYM": "Lymphocytes",
                "PLAT": "Platelets",
                "HGB": "Hemoglobin",
                "ALT": "Alanine Aminotransferase",
                "AST": "Aspartate Aminotransferase",
                "BILI": "Bilirubin",
                "CREAT": "Creatinine",
                "FERRITIN": "Ferritin",
                "CRP": "C Reactive Protein",
                "DDIMER": "D-Dimer",
            },
        ),
        _cl(
            "LBTEST",
            "C67154",
            True,
            _same(
                "Leukocytes",
                "Neutrophils",
                "Lymphocytes",
                "Platelets",
                "Hemoglobin",
                "Alanine Aminotransferase",
                "Aspartate Aminotransferase",
                "Bilirubin",
                "Creatinine",
                "Ferritin",
                "C Reactive Protein",
                "D-Dimer",
            ),
        ),
        _cl("CPTESTCD", "C181173", True, {"TLYH": "Helper T-Lymphocytes", "TLC": "Cytotoxic T-Lymphocytes"}),
        _cl("CPTEST", "C181174", True, {"TLym Help": "Helper T-Lymphocytes", "TLym Cytx": "Cytotoxic T-Lymphocytes"}),
        _cl(
            "MBTESTCD",
            "C120527",
            True,
            {
                "SARSCOV2": "SARS-CoV-2",
                "SCV2CT": "SARS-CoV-2 Cycle Threshold",
                "SCV2VLD": "SARS-CoV-2 Viral Load",
            },
            extended=("SCV2CT", "SCV2VLD"),
        ),
        _cl(
            "MBTEST",
            "C120528",
            True,
            _same("SARS-CoV-2", "SARS-CoV-2 Cycle Threshold", "SARS-CoV-2 Viral Load"),
            extended=("SARS-CoV-2 Cycle Threshold", "SARS-CoV-2 Viral Load"),
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
                "WEIGHT": "Weight",
                "HEIGHT": "Height",
            },
        ),
        _cl(
            "VSTEST",
            "C67153",
            True,
            _same(
                "Systolic Blood Pressure",
                "Diastolic Blood Pressure",
                "Pulse Rate",
                "Respiratory Rate",
                "Temperature",
                "Oxygen Saturation",
                "Weight",
                "Height",
            ),
        ),
        _cl("DDTESTCD", "C116107", True, {"PRCDTH": "Primary Cause of Death"}),
        _cl("DDTEST", "C116108", True, {"Primary Cause of Death": "Primary Cause of Death"}),
        _cl(
            "TSPARMCD",
            "C66738",
            True,
            {
                "TITLE": "Trial Title",
                "TPHASE": "Trial Phase Classification",
                "STYPE": "Study Type",
                "TTYPE": "Trial Type",
                "TINDTP": "Trial Intent Type",
                "RANDOM": "Trial is Randomized",
                "RANDQT": "Randomization Quotient",
                "STRATFCT": "Stratification Factor",
                "TBLIND": "Trial Blinding Schema",
                "TCNTRL": "Control Type",
                "COMPTRT": "Comparative Treatment Name",
                "INTMODEL": "Intervention Model",
                "INTTYPE": "Intervention Type",
                "NARMS": "Planned Number of Arms",
                "PLANSUB": "Planned Number of Subjects",
                "ACTSUB": "Actual Number of Subjects",
                "SPONSOR": "Clinical Study Sponsor",
                "REGID": "Registry Identifier",
                "TRT": "Investigational Therapy or Treatment",
                "PCLAS": "Pharmacologic Class",
                "CURTRT": "Current Therapy or Treatment",
                "ROUTE": "Route of Administration",
                "DOSE": "Dose per Administration",
                "DOSU": "Dose Units",
                "DOSFRQ": "Dosing Frequency",
                "ADDON": "Added on to Existing Treatments",
                "AGEMIN": "Planned Minimum Age of Subjects",
                "AGEMAX": "Planned Maximum Age of Subjects",
                "SEXPOP": "Sex of Participants",
                "HLTSUBJI": "Healthy Subject Indicator",
                "LENGTH": "Trial Length",
                "FCNTRY": "Planned Country of Investigational Sites",
                "NCOHORT": "Number of Groups/Cohorts",
                "ADAPT": "Adaptive Design",
                "EXTTIND": "Extension Trial Indicator",
                "PDSTIND": "Pediatric Study Indicator",
                "PDPSTIND": "Pediatric Postmarket Study Indicator",
                "PIPIND": "Pediatric Investigation Plan Indicator",
                "RDIND": "Rare Disease Indicator",
                "ONGOSIND": "Ongoing Study Indicator",
                "SSTDTC": "Study Start Date",
                "SENDTC": "Study End Date",
                "STOPRULE": "Study Stop Rules",
                "SDMDUR": "Stable Disease Minimum Duration",
                "CRMDUR": "Confirmed Response Minimum Duration",
                "OBJPRIM": "Trial Primary Objective",
                "OUTMSPRI": "Primary Outcome Measure",
                "OUTMSSEC": "Secondary Outcome Measure",
                "INDIC": "Trial Disease/Condition Indication",
                "TDIGRP": "Diagnosis Group",
                "SDTIGVER": "SDTM IG Version",
                "SDTMVER": "SDTM Version",
                "THERAREA": "Therapeutic Area",
            },
        ),
        _cl("NULLFLAV", None, False, {"NA": "Not applicable", "UNK": "Unknown", "NI": "No information"}),
        # ---- sponsor-defined (no CDISC codelist) ---------------------------------------------------------
        _cl("ARMCD", None, False, {"CYT107": "CYT107", "PLACEBO": "placebo", "BLINDED": "Blinded"}),
        _cl("ARM", None, False, {"CYT107": "CYT107", "placebo": "placebo", "Blinded": "Blinded (arm not disclosed)"}),
        _cl("ETCD", None, False, {"SCRN": "Screening", "CYT107": "CYT107", "PBO": "Placebo", "FU": "Follow-up"}),
        _cl(
            "SITEID",
            None,
            False,
            {"MSKCC": "Memorial Sloan Kettering Cancer Center", "MDACC": "MD Anderson Cancer Center"},
        ),
        _cl(
            "IETESTCD",
            None,
            False,
            {
                **{f"INCL{i:02d}": f"Inclusion criterion {i}" for i in range(1, 8)},
                **{f"EXCL{i:02d}": f"Exclusion criterion {i}" for i in range(1, 18)},
            },
        ),
        _cl(
            "AEREL",
            None,
            False,
            {
                "NOT RELATED": "Not related",
                "UNLIKELY RELATED": "Unlikely related",
                "POSSIBLY RELATED": "Possibly related",
                "PROBABLY RELATED": "Probably related",
                "RELATED": "Definitely related",
                "NOT ASSESSED": "Not yet assessed",
            },
        ),
        _cl(
            "EXTRT",
            None,
            False,
            {"CYT107": "CYT107", "PLACEBO": "Placebo (normal saline)", "CYT107 OR PLACEBO": "Blinded study drug"},
        ),
        _cl(
            "RSTESTCD",
            None,
            False,
            {
                "NEWS2TOT": "NEWS2 Total Score",
                "SOFATOT": "SOFA Total Score",
                "WHOCPS": "WHO Clinical Progression Scale Score",
                "CFS": "Clinical Frailty Scale Score",
            },
        ),
        _cl(
            "RSTEST",
            None,
            False,
            _same(
                "NEWS2 Total Score",
                "SOFA Total Score",
                "WHO Clinical Progression Scale Score",
                "Clinical Frailty Scale Score",
            ),
        ),
        _cl("FATESTCD", None, False, {"ADJRES": "Adjudication Result"}),
        _cl("FATEST", None, False, {"Adjudication Result": "Adjudication Result"}),
        _cl("ADJRES", None, False, {"CONFIRMED": "Confirmed", "NOT CONFIRMED": "Not confirmed"}),
        # ---- ADaM ---------------------------------------------------------------------------------------
        _cl("TRT01P", None, False, {"CYT107": "CYT107", "placebo": "placebo"}),
        _cl("TRT01PN", None, False, {"1": "CYT107", "2": "placebo"}),
        _cl("AGEGR1", None, False, {"<65": "Under 65 years", ">=65": "65 years or older"}),
        _cl("AGEGR1N", None, False, {"1": "<65", "2": ">=65"}),
        _cl("DTYPE", "C81224", True, {"LOCF": "Last Observation Carried Forward"}),
        _cl(
            "PARAMCD_ADLB",
            None,
            False,
            {
                "LYM": "Lymphocytes (10^9/L)",
                "CD4": "CD3+CD4+ T Cells (10^9/L)",
                "CD8": "CD3+CD8+ T Cells (10^9/L)",
                "FERRITIN": "Ferritin (ng/mL)",
                "CRP": "C Reactive Protein (mg/L)",
                "DDIMER": "D-Dimer (ng/mL FEU)",
                "WBC": "Leukocytes (10^9/L)",
                "NEUT": "Neutrophils (10^9/L)",
                "PLAT": "Platelets (10^9/L)",
                "HGB": "Hemoglobin (g/dL)",
                "ALT": "Alanine Aminotransferase (U/L)",
                "AST": "Aspartate Aminotransferase (U/L)",
                "BILI": "Bilirubin (mg/dL)",
                "CREAT": "Creatinine (mg/dL)",
            },
        ),
        _cl("PARAMCD_ADTTE", None, False, {"TTDTH45": "Time to Death Through Day 45 (Days)"}),
    )
}


CODELISTS["TSPARM"] = _cl("TSPARM", "C67152", True, {v: v for v in CODELISTS["TSPARMCD"].terms.values()})


def decode(codelist: str, term: str) -> str:
    return CODELISTS[codelist].terms[term]
