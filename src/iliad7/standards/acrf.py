"""The annotated CRF (aCRF): every item of every protocol form, and the screening record, with where it
goes in SDTM. define.xml links it (def:AnnotatedCRF); the SDTM export writes it as `acrf.html`.

`ANNOTATIONS` is the one table of where each collected item is submitted: a test checks that every
item of every form of the protocol file has an entry, so a form item cannot be added and silently
left out of the tabulations. An item that is not submitted says why ("NOT SUBMITTED: ...").
"""

from __future__ import annotations

import html
from pathlib import Path
from typing import Any

_LAB = {
    "wbc": "WBC", "neutrophils": "NEUT", "alc": "LYM", "platelets": "PLAT", "hemoglobin": "HGB", "alt": "ALT",
    "ast": "AST", "bilirubin": "BILI", "creatinine": "CREAT", "ferritin": "FERRITIN", "crp": "CRP",
    "d_dimer": "DDIMER",
}  # fmt: skip
_RS_QUALIFIERS = {
    "CLINICAL-STATUS": {
        "dead": "RSDEAD", "hospitalized": "RSHOSP", "sars_cov_2_rna_detected": "RSRNADET", "symptomatic": "RSSYMPT",
        "needs_assistance": "RSASSIST", "oxygen_support": "RSO2SUPP", "pf_ratio": "RSPFRAT", "sf_ratio": "RSSFRAT",
        "vasopressors": "RSVASOP", "dialysis": "RSDIALYS",
    },
    "SOFA": {
        "pao2_fio2": "RSPAOFIO", "respiratory_support": "RSRESPSP", "platelets": "RSPLAT", "bilirubin": "RSBILI",
        "map": "RSMAP", "dopamine": "RSDOPA", "epinephrine": "RSEPI", "norepinephrine": "RSNOREPI",
        "dobutamine": "RSDOBUT", "gcs": "RSGCS", "creatinine": "RSCREAT", "urine_output": "RSURINE",
    },
}  # fmt: skip


def _lab_annotations() -> dict[str, str]:
    notes = {"collected_at": "LB.LBDTC; CP.CPDTC"}
    for item, code in _LAB.items():
        notes[item] = f"LB.LBORRES, LB.LBORRESU when LBTESTCD = {code}"
        notes[f"{item}_lln"] = f"LB.LBORNRLO when LBTESTCD = {code}"
        notes[f"{item}_uln"] = f"LB.LBORNRHI when LBTESTCD = {code}"
    notes["cd4"] = "CP.CPORRES, CP.CPORRESU when CPTESTCD = TLYH (TLym Help, CD3+CD4+)"
    notes["cd8"] = "CP.CPORRES, CP.CPORRESU when CPTESTCD = TLC (TLym Cytx, CD3+CD8+)"
    return notes


ANNOTATIONS: dict[str, dict[str, str]] = {
    "DEMOGRAPHICS": {"collected_on": "DM.DMDTC", "race": "DM.RACE", "ethnicity": "DM.ETHNIC"},
    "VITALS": {
        "assessed_at": "VS.VSDTC; RS.RSDTC (NEWS2)",
        "respiratory_rate": "VS.VSORRES when VSTESTCD = RESP",
        "spo2": "VS.VSORRES when VSTESTCD = OXYSAT",
        "spo2_scale": "SUPPVS.QVAL when QNAM = VSSPO2SC",
        "on_supplemental_oxygen": "SUPPVS.QVAL when QNAM = VSO2SUPP",
        "oxygen_flow_lpm": "SUPPVS.QVAL when QNAM = VSO2FLOW",
        "systolic_bp": "VS.VSORRES when VSTESTCD = SYSBP",
        "diastolic_bp": "VS.VSORRES when VSTESTCD = DIABP",
        "pulse": "VS.VSORRES when VSTESTCD = PULSE",
        "consciousness": "SUPPVS.QVAL when QNAM = VSACVPU",
        "temperature": "VS.VSORRES when VSTESTCD = TEMP",
        "news2": "RS.RSORRES when RSTESTCD = NEWS2TOT (derived on save)",
    },
    "CLINICAL-STATUS": {
        "assessed_on": "RS.RSDTC",
        **{item: f"SUPPRS.QVAL when QNAM = {q}" for item, q in _RS_QUALIFIERS["CLINICAL-STATUS"].items()},
        "who_scale": "RS.RSORRES when RSTESTCD = WHOCPS (derived on save)",
    },
    "SOFA": {
        "assessed_on": "RS.RSDTC",
        **{item: f"SUPPRS.QVAL when QNAM = {q}" for item, q in _RS_QUALIFIERS["SOFA"].items()},
        "sofa": "RS.RSORRES when RSTESTCD = SOFATOT (derived on save)",
    },
    "LAB": _lab_annotations(),
    "VIRAL-LOAD": {
        "collected_at": "MB.MBDTC",
        "specimen": "MB.MBSPEC, MB.MBLOC",
        "detected": "MB.MBORRES when MBTESTCD = SARSCOV2",
        "ct_value": "MB.MBORRES when MBTESTCD = SCV2CT",
        "log10_copies_per_ml": "MB.MBORRES, MB.MBORRESU when MBTESTCD = SCV2VLD",
    },
    "STUDY-DRUG": {
        "given": "EX (one record per dose given)",
        "given_at": "EX.EXSTDTC, EX.EXENDTC",
        "syringe_label": "EX.EXREFID",
        "volume_ml": "EX.EXVAMT, EX.EXVAMTU (blinded export: EX.EXDOSE in mL)",
        "injection_site": "EX.EXLOC, EX.EXLAT",
        "local_reaction": "SUPPEX.QVAL when QNAM = EXLCLRX",
        "not_given_reason": "NOT SUBMITTED: a dose not given has no EX record; the reason is in the ODM export",
    },
    "HOSPITAL-STAY": {
        "stay_type": "HO.HOTERM, HO.HODECOD",
        "readmission": "HO.HOCAT",
        "admitted_at": "HO.HOSTDTC",
        "discharged_at": "HO.HOENDTC",
        "discharge_destination": "SUPPHO.QVAL when QNAM = HODISCH",
    },
    "ORGAN-SUPPORT": {"support_type": "PR.PRTRT, PR.PRCAT", "started_at": "PR.PRSTDTC", "stopped_at": "PR.PRENDTC"},
    "SECONDARY-INFECTION": {
        "onset_date": "CE.CESTDTC",
        "infection_site": "CE.CETERM, CE.CESCAT",
        "organism_type": "SUPPCE.QVAL when QNAM = CEORGTYP",
        "organism": "SUPPCE.QVAL when QNAM = CEORGNSM",
        "culture_confirmed": "SUPPCE.QVAL when QNAM = CECULTCF",
        "description": "SUPPCE.QVAL when QNAM = CEDESC",
    },
    "ADVERSE-EVENT": {
        "term": "AE.AETERM (AEDECOD and the MedDRA levels from the sponsor's dictionary)",
        "grade": "AE.AETOXGR",
        "onset_date": "AE.AESTDTC",
        "stop_date": "AE.AEENDTC",
        "serious": "AE.AESER",
        "sae_death": "AE.AESDTH",
        "sae_life_threatening": "AE.AESLIFE",
        "sae_hospitalization": "AE.AESHOSP",
        "sae_disability": "AE.AESDISAB",
        "sae_congenital_anomaly": "AE.AESCONG",
        "sae_important_medical_event": "AE.AESMIE",
        "awareness_at": "SUPPAE.QVAL when QNAM = AEAWARDT",
        "sae_reported_at": "SUPPAE.QVAL when QNAM = AESAERDT",
        "relatedness": "AE.AEREL",
        "expected": "SUPPAE.QVAL when QNAM = AEEXPECT",
        "outcome": "AE.AEOUT",
        "lab_term": "SUPPAE.QVAL when QNAM = AELBTERM",
        "lab_value": "SUPPAE.QVAL when QNAM = AELBVAL",
        "lab_unit": "SUPPAE.QVAL when QNAM = AELBUNIT",
        "lab_lln": "SUPPAE.QVAL when QNAM = AELBLLN",
        "lab_uln": "SUPPAE.QVAL when QNAM = AELBULN",
        "ctcae": "NOT SUBMITTED: the grade suggested from the laboratory value; the investigator's grade is AETOXGR",
    },
    "DEATH": {
        "death_date": "DM.DTHDTC; DD.DDDTC",
        "primary_cause": "DD.DDSTRESC when DDTESTCD = PRCDTH",
        "cause_text": "DD.DDORRES when DDTESTCD = PRCDTH",
        "autopsy": "SUPPDD.QVAL when QNAM = DDAUTOP",
    },
    "END-OF-STUDY": {
        "end_status": "DS.DSDECOD (DSSCAT = STUDY PARTICIPATION)",
        "end_date": "DS.DSSTDTC; DM.RFENDTC, DM.RFPENDTC",
        "last_contact_date": "SUPPDS.QVAL when QNAM = LSTCNTDT",
        "withdrawal_reason": "DS.DSTERM",
        "data_use_allowed": "SUPPDS.QVAL when QNAM = DATAUSE",
    },
}
# The screening record (clinical-rules section 3) is entered on the screening page, not as a protocol form.
SCREENING_RECORD: dict[str, str] = {
    "baseline_time": "IE.IEDTC; DS.DSSTDTC of a screen failure",
    "birth_date": "DM.AGE (the birth date itself is not submitted)",
    "sex": "DM.SEX",
    "alc": "LB.LBORRES when LBTESTCD = LYM, VISIT = SCREENING",
    "alt": "LB.LBORRES, LB.LBORNRHI when LBTESTCD = ALT, VISIT = SCREENING",
    "ast": "LB.LBORRES, LB.LBORNRHI when LBTESTCD = AST, VISIT = SCREENING",
    "weight_kg": "VS.VSORRES when VSTESTCD = WEIGHT",
    "height_cm": "VS.VSORRES when VSTESTCD = HEIGHT",
    "news2": "RS.RSORRES when RSTESTCD = NEWS2TOT, VISIT = SCREENING",
    "sofa": "RS.RSORRES when RSTESTCD = SOFATOT, VISIT = SCREENING",
    "clinical_frailty_scale": "RS.RSORRES when RSTESTCD = CFS",
    "(every criterion's inputs)": "IE (criteria not met by a screen failure); TI (the criteria)",
}


def annotation(form: str, item: str) -> str | None:
    return ANNOTATIONS.get(form, {}).get(item)


def write_acrf(protocol: Any, path: Path) -> Path:
    """A simple annotated CRF in HTML: each form's items with their SDTM destination (an anchor per form)."""
    parts = [
        "<!doctype html><html lang='en'><head><meta charset='utf-8'>",
        f"<title>Annotated CRF {html.escape(protocol.id)}</title>",
        "<style>body{font-family:sans-serif}td,th{border:1px solid #999;padding:2px 6px}"
        "table{border-collapse:collapse;margin-bottom:1.5em}.sdtm{color:#034;font-family:monospace}</style>",
        f"</head><body><h1>Annotated CRF: {html.escape(protocol.id)}"
        f" (protocol file {html.escape(protocol.version)})</h1>",
        "<p>Each item with its SDTM (SDTMIG 3.4) destination.</p>",
    ]
    sections = [(form.id, form.title, [(i.id, i.label) for i in form.items]) for form in protocol.forms]
    sections.append(("SCREENING-RECORD", "Screening record (clinical-rules section 3)",
                     [(key, key.replace("_", " ")) for key in SCREENING_RECORD]))  # fmt: skip
    for form_id, title, items in sections:
        notes = SCREENING_RECORD if form_id == "SCREENING-RECORD" else ANNOTATIONS.get(form_id, {})
        parts.append(f"<h2 id='{html.escape(form_id)}'>{html.escape(form_id)}: {html.escape(title)}</h2>")
        parts.append("<table><tr><th>Item</th><th>Label</th><th>SDTM</th></tr>")
        for item_id, label in items:
            note = notes.get(item_id, "NOT ANNOTATED")
            parts.append(
                f"<tr><td>{html.escape(item_id)}</td><td>{html.escape(label)}</td>"
                f"<td class='sdtm'>{html.escape(note)}</td></tr>"
            )
        parts.append("</table>")
    parts.append("</body></html>")
    path.write_text("\n".join(parts) + "\n", encoding="utf-8")
    return path
