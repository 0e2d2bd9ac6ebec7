"""SUPP-- (supplemental qualifiers) and RELREC (related records) of the SDTM export.

A value collected on a form that has no SDTM variable is kept as a supplemental qualifier of
its record (IDVAR = --SEQ; DM's are subject-level) rather than dropped. RELREC ties each
NEWS2 total (RS) to the VITALS observations it was scored from (VS).
"""

from __future__ import annotations

from typing import Any

from iliad7.standards.dataset import Dataset, Variable, make_dataset
from iliad7.standards.snapshot import Snapshot

V = Variable
SUPP_VARS = (
    V("STUDYID", "Study Identifier", role="Identifier"),
    V("RDOMAIN", "Related Domain Abbreviation", role="Identifier"),
    V("USUBJID", "Unique Subject Identifier", role="Identifier"),
    V("IDVAR", "Identifying Variable", role="Identifier"),
    V("IDVARVAL", "Identifying Variable Value", role="Identifier"),
    V("QNAM", "Qualifier Variable Name", role="Topic"),
    V("QLABEL", "Qualifier Variable Label", role="Synonym Qualifier"),
    V("QVAL", "Data Value", role="Result Qualifier"),
    V("QORIG", "Origin", role="Record Qualifier"),
    V("QEVAL", "Evaluator", role="Record Qualifier"),
)


def build_supp(snapshot: Snapshot, dataset: Dataset) -> Dataset | None:
    """SUPP{domain} from the dataset's qualifiers, or None when it has none."""
    if not dataset.qualifiers:
        return None
    domain = dataset.name
    rows: list[dict[str, Any]] = []
    for usubjid, idvar, idvarval, qnam, qlabel, qval, qorig in dataset.qualifiers:
        rows.append(
            {
                "STUDYID": snapshot.protocol.id,
                "RDOMAIN": domain,
                "USUBJID": usubjid,
                "IDVAR": idvar,
                "IDVARVAL": idvarval,
                "QNAM": qnam,
                "QLABEL": qlabel,
                "QVAL": qval,
                "QORIG": qorig,
                "QEVAL": "",
            }
        )
    rows.sort(key=lambda r: (r["USUBJID"], r["IDVAR"], int(r["IDVARVAL"]) if r["IDVARVAL"].isdigit() else 0,
                             r["IDVARVAL"], r["QNAM"]))  # fmt: skip
    return make_dataset(
        f"SUPP{domain}",
        f"Supplemental Qualifiers for {domain}",
        klass="RELATIONSHIP",
        structure="One record per IDVAR, IDVARVAL, and QNAM value per subject",
        keys=("STUDYID", "RDOMAIN", "USUBJID", "IDVAR", "IDVARVAL", "QNAM"),
        variables=SUPP_VARS,
        rows=rows,
    )


RELREC_VARS = (
    V("STUDYID", "Study Identifier", role="Identifier"),
    V("RDOMAIN", "Related Domain Abbreviation", role="Identifier"),
    V("USUBJID", "Unique Subject Identifier", role="Identifier"),
    V("IDVAR", "Identifying Variable", role="Identifier"),
    V("IDVARVAL", "Identifying Variable Value", role="Identifier"),
    V("RELTYPE", "Relationship Type", role="Record Qualifier"),
    V("RELID", "Relationship Identifier", role="Record Qualifier"),
)


def build_relrec(snapshot: Snapshot, rs: Dataset, vs: Dataset) -> Dataset:
    """Each NEWS2 total (RS, RSSPID = the VITALS form) with the vital signs it was scored from (VS, VSGRPID)."""
    groups = {(r["USUBJID"], r["VSGRPID"]) for r in vs.frame.to_dicts()}
    rows: list[dict[str, Any]] = []
    for r in rs.frame.to_dicts():
        key = (r["USUBJID"], r["RSSPID"])
        if r["RSTESTCD"] != "NEWS2TOT" or key not in groups:
            continue
        for domain, idvar in (("RS", "RSSPID"), ("VS", "VSGRPID")):
            rows.append(
                {
                    "STUDYID": snapshot.protocol.id,
                    "RDOMAIN": domain,
                    "USUBJID": r["USUBJID"],
                    "IDVAR": idvar,
                    "IDVARVAL": r["RSSPID"],
                    "RELTYPE": "",
                    "RELID": f"NEWS2 {r['RSSPID']}",
                }
            )
    return make_dataset(
        "RELREC",
        "Related Records",
        klass="RELATIONSHIP",
        structure="One record per related record, group of records or dataset",
        keys=("STUDYID", "USUBJID", "RDOMAIN", "IDVAR", "IDVARVAL", "RELID"),
        variables=RELREC_VARS,
        rows=rows,
    )
