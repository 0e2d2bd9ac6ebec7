"""SDTM trial design datasets from the protocol file: TS, TA, TE, TV, TI.

TS carries the trial summary parameters the FDA Technical Conformance Guide asks for; a
parameter the protocol file does not give has TSVAL null and the reason in TSVALNF. A value over
200 characters (the official title) continues in TSVAL1, TSVAL2, ... (SDTMIG 3.4 section 7.6.1).
TI.IETEST is the criterion as the registry states it; three criteria are longer than 200
characters, and for them IETEST is the protocol file's computable (or short) statement of the criterion
(the registry text is in the protocol, as the TI assumptions allow), never a cut text.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from iliad7.standards.dataset import Dataset, make_dataset
from iliad7.standards.sdtm_base import SDTM_VERSION, SDTMIG_VERSION, V, visit_vars, visitdy
from iliad7.standards.snapshot import Snapshot
from iliad7.standards.terminology import CT_VERSION

if TYPE_CHECKING:
    from iliad7.standards.sdtm import Context

MAX_TEXT = 200
# etcd, element, start rule, end rule, epoch
ELEMENTS = (
    ("SCRN", "Screening", "Informed consent", "First dose of study drug", "SCREENING"),
    ("CYT107", "CYT107", "First dose of CYT107", "Discharge, death, withdrawal or end of day 21", "TREATMENT"),
    ("PBO", "Placebo", "First dose of placebo", "Discharge, death, withdrawal or end of day 21", "TREATMENT"),
    ("FU", "Follow-up", "End of treatment", "Day 45 follow-up, death or withdrawal", "FOLLOW-UP"),
)
ARM_ELEMENT = {"CYT107": "CYT107", "placebo": "PBO"}


def _id(snapshot: Snapshot, domain: str) -> dict[str, Any]:
    return {"STUDYID": snapshot.protocol.id, "DOMAIN": domain}


_TD_ID = (V("STUDYID", "Study Identifier", role="Identifier"), V("DOMAIN", "Domain Abbreviation", role="Identifier"))


def build_te(ctx: Context) -> Dataset:
    rows = [
        {**_id(ctx.snapshot, "TE"), "ETCD": etcd, "ELEMENT": element, "TESTRL": start, "TEENRL": end, "TEDUR": ""}
        for etcd, element, start, end, _ in ELEMENTS
    ]
    variables = (
        *_TD_ID,
        V("ETCD", "Element Code", codelist="ETCD", origin="Protocol", role="Topic"),
        V("ELEMENT", "Description of Element", origin="Protocol", role="Synonym Qualifier"),
        V("TESTRL", "Rule for Start of Element", origin="Protocol", role="Rule"),
        V("TEENRL", "Rule for End of Element", origin="Protocol", role="Rule"),
        V("TEDUR", "Planned Duration of Element", origin="Protocol", role="Timing",
          comment="Null: each element ends by a rule (TEENRL), not after a fixed duration."),
    )  # fmt: skip
    return make_dataset("TE", "Trial Elements", klass="TRIAL DESIGN", structure="One record per planned Element",
                        keys=("STUDYID", "ETCD"), variables=variables, rows=rows)  # fmt: skip


def build_ta(ctx: Context) -> Dataset:
    from iliad7.standards.sdtm import ARMCD

    snapshot = ctx.snapshot
    epochs = {etcd: (element, epoch) for etcd, element, _, _, epoch in ELEMENTS}
    rows = []
    for arm in snapshot.protocol.arms:
        for order, etcd in enumerate(("SCRN", ARM_ELEMENT[arm.code], "FU"), start=1):
            rows.append(
                {
                    **_id(snapshot, "TA"),
                    "ARMCD": ARMCD[arm.code],
                    "ARM": arm.code,
                    "TAETORD": order,
                    "ETCD": etcd,
                    "ELEMENT": epochs[etcd][0],
                    "TABRANCH": f"Randomized to {arm.code}" if order == 1 else "",
                    "TATRANS": "If death in the treatment element, the subject's participation ends"
                    if order == 2
                    else "",
                    "EPOCH": epochs[etcd][1],
                }
            )
    variables = (
        *_TD_ID,
        V("ARMCD", "Planned Arm Code", codelist="ARMCD", origin="Protocol", role="Topic"),
        V("ARM", "Description of Planned Arm", codelist="ARM", origin="Protocol", role="Synonym Qualifier"),
        V("TAETORD", "Planned Order of Element within Arm", "Num", origin="Protocol", role="Timing"),
        V("ETCD", "Element Code", codelist="ETCD", origin="Protocol", role="Record Qualifier"),
        V("ELEMENT", "Description of Element", origin="Protocol", role="Synonym Qualifier"),
        V("TABRANCH", "Branch", origin="Protocol", role="Rule"),
        V("TATRANS", "Transition Rule", origin="Protocol", role="Rule"),
        V("EPOCH", "Epoch", codelist="EPOCH", origin="Protocol", role="Timing"),
    )
    return make_dataset("TA", "Trial Arms", klass="TRIAL DESIGN", structure="One record per planned Element per Arm",
                        keys=("STUDYID", "ARMCD", "TAETORD"), variables=variables, rows=rows)  # fmt: skip


def build_tv(ctx: Context) -> Dataset:
    snapshot = ctx.snapshot
    rows = []
    for number, visit in enumerate(snapshot.protocol.schedule.visits, start=1):
        rows.append(
            {
                **_id(snapshot, "TV"),
                "VISITNUM": number,
                "VISIT": visit.name.upper(),
                "VISITDY": visitdy(visit.target_day),
                "ARMCD": "",
                "ARM": "",
                "TVSTRL": (
                    f"Protocol day {visit.target_day} (-{visit.window_days.before}/+{visit.window_days.after}"
                    f" days); occurs {visit.occurs}"
                ),
                "TVENRL": "",
            }
        )
    variables = (
        *_TD_ID,
        *visit_vars(),
        V("ARMCD", "Planned Arm Code", codelist="ARMCD", origin="Protocol", role="Record Qualifier",
          comment="Null: the visit schedule is the same in both arms (SDTMIG 3.4, TV assumptions)."),
        V("ARM", "Description of Planned Arm", codelist="ARM", origin="Protocol", role="Synonym Qualifier"),
        V("TVSTRL", "Visit Start Rule", origin="Protocol", role="Rule"),
        V("TVENRL", "Visit End Rule", origin="Protocol", role="Rule"),
    )  # fmt: skip
    return make_dataset("TV", "Trial Visits", klass="TRIAL DESIGN", structure="One record per planned Visit per Arm",
                        keys=("STUDYID", "VISITNUM"), variables=variables, rows=rows)  # fmt: skip


def ie_test_codes(snapshot: Snapshot) -> dict[str, str]:
    """IETESTCD (8 characters) for each protocol criterion id: INCL01.., EXCL01.. in protocol order."""
    codes: dict[str, str] = {}
    counters = {"inclusion": 0, "exclusion": 0}
    for criterion in snapshot.protocol.eligibility.criteria:
        counters[criterion.kind] += 1
        codes[criterion.id] = f"{'INCL' if criterion.kind == 'inclusion' else 'EXCL'}{counters[criterion.kind]:02d}"
    return codes


def criterion_text(criterion: Any) -> str:
    """IETEST: the registry text, or (over 200 bytes) the protocol file's computable or short statement."""
    for text in (criterion.registry_text, criterion.computable, criterion.short_text or ""):
        text = " ".join(text.split())
        if len(text.encode()) <= MAX_TEXT:
            return text
    raise ValueError(f"criterion {criterion.id}: neither its registry text nor its computable text fits IETEST")


def build_ti(ctx: Context) -> Dataset:
    snapshot = ctx.snapshot
    codes = ie_test_codes(snapshot)
    rows = []
    for criterion in snapshot.protocol.eligibility.criteria:
        rows.append(
            {
                **_id(snapshot, "TI"),
                "IETESTCD": codes[criterion.id],
                "IETEST": criterion_text(criterion),
                "IECAT": criterion.kind.upper(),
                "TIRL": criterion.id,
                "TIVERS": snapshot.protocol.version,
            }
        )
    variables = (
        *_TD_ID,
        V("IETESTCD", "Incl/Excl Criterion Short Name", codelist="IETESTCD", origin="Protocol", role="Topic"),
        V("IETEST", "Inclusion/Exclusion Criterion", origin="Protocol", role="Synonym Qualifier",
          comment="The registry text of the criterion; for INC-CONSENT, INC-ONCOLOGY and INC-HYPOXEMIA, whose "
          "registry text is over 200 characters, the protocol file's computable statement of it (the full text "
          "is in the protocol)."),
        V("IECAT", "Inclusion/Exclusion Category", codelist="IECAT", origin="Protocol", role="Grouping Qualifier"),
        V("TIRL", "Inclusion/Exclusion Criterion Rule", origin="Protocol", role="Rule",
          comment="The criterion id in the protocol file and in iliad7.eligibility (one function per id)."),
        V("TIVERS", "Protocol Criteria Versions", origin="Protocol", role="Record Qualifier"),
    )  # fmt: skip
    return make_dataset("TI", "Trial Inclusion/Exclusion Criteria", klass="TRIAL DESIGN",
                        structure="One record per I/E criterion", keys=("STUDYID", "IETESTCD"), variables=variables,
                        rows=rows)  # fmt: skip


def _split(value: str) -> list[str]:
    """A TS value in pieces of at most 200 bytes, cut between words."""
    pieces: list[str] = []
    words = value.split()
    current = ""
    for word in words:
        candidate = f"{current} {word}" if current else word
        if len(candidate.encode()) > MAX_TEXT:
            pieces.append(current)
            current = word
        else:
            current = candidate
    return [*pieces, current]


# TSPARMCD -> (TSVALCD, TSVCDREF) for values that come from a terminology
_CODED = {
    "TPHASE": ("C15601", "CDISC CT"),
    "STYPE": ("C98388", "CDISC CT"),
    "TBLIND": ("C15228", "CDISC CT"),
    "TCNTRL": ("C49648", "CDISC CT"),
    "INTMODEL": ("C82639", "CDISC CT"),
    "ROUTE": ("C28161", "CDISC CT"),
    "SEXPOP": ("C49636", "CDISC CT"),
    "TINDTP": ("C49656", "CDISC CT"),
    "INTTYPE": ("C1909", "CDISC CT"),
    "TTYPE": ("C49666", "CDISC CT"),
    "FCNTRY": ("USA", "ISO 3166"),
}


def build_ts(ctx: Context) -> Dataset:
    snapshot = ctx.snapshot
    p = snapshot.protocol
    primary = [o for o in p.outcomes if o.kind == "primary"]
    secondary = [o for o in p.outcomes if o.kind == "secondary"]
    params: list[tuple[str, str, str]] = [  # (TSPARMCD, TSVAL, TSVALNF)
        ("TITLE", " ".join(p.titles.official.split()), ""),
        ("TPHASE", "PHASE II TRIAL", ""),
        ("STYPE", "INTERVENTIONAL", ""),
        ("TTYPE", "EFFICACY", ""),
        ("TINDTP", "TREATMENT", ""),
        ("RANDOM", "Y", ""),
        ("RANDQT", "0.5", ""),
        ("STRATFCT", "SITE", ""),
        ("TBLIND", "DOUBLE BLIND", ""),
        ("TCNTRL", "PLACEBO", ""),
        ("COMPTRT", "PLACEBO", ""),
        ("INTMODEL", "PARALLEL", ""),
        ("INTTYPE", "DRUG", ""),
        ("NARMS", str(len(p.arms)), ""),
        ("PLANSUB", str(p.enrollment.planned), ""),
        ("ACTSUB", str(sum(not s.screen_failed for s in snapshot.subjects)), ""),
        ("SPONSOR", p.sponsor.name, ""),
        ("REGID", p.identifiers.nct_id, ""),
        ("TRT", "CYT107", ""),
        ("PCLAS", "", "UNK"),
        ("CURTRT", "", "NA"),
        ("ROUTE", "INTRAMUSCULAR", ""),
        ("DOSE", "10", ""),
        ("DOSU", "ug/kg", ""),
        ("DOSFRQ", "2 TIMES PER WEEK", ""),
        ("ADDON", "Y", ""),
        ("AGEMIN", f"P{p.eligibility.min_age_years}Y", ""),
        ("AGEMAX", f"P{p.eligibility.max_age_years}Y", ""),
        ("SEXPOP", "BOTH", ""),
        ("HLTSUBJI", "N" if not p.eligibility.healthy_volunteers else "Y", ""),
        ("LENGTH", "P45D", ""),
        ("FCNTRY", "USA", ""),
        ("NCOHORT", "1", ""),
        ("ADAPT", "N", ""),
        ("EXTTIND", "N", ""),
        ("PDSTIND", "N", ""),
        ("PDPSTIND", "N", ""),
        ("PIPIND", "N", ""),
        ("RDIND", "N", ""),
        ("ONGOSIND", "Y" if p.dates.recruitment_status in ("recruiting", "active-not-recruiting") else "N", ""),
        ("SSTDTC", p.dates.study_start.date.isoformat(), ""),
        ("SENDTC", "", "NA"),
        ("STOPRULE", "", "NI"),
        ("SDMDUR", "", "NA"),
        ("CRMDUR", "", "NA"),
        ("OBJPRIM", " ".join(primary[0].description.split()) if primary else "", "" if primary else "NI"),
        ("SDTIGVER", SDTMIG_VERSION, ""),
        ("SDTMVER", SDTM_VERSION, ""),
        ("THERAREA", "INFECTIOUS DISEASE", ""),
    ]
    params += [("OUTMSPRI", " ".join(o.title.split()), "") for o in primary]
    params += [("OUTMSSEC", " ".join(o.title.split()), "") for o in secondary]
    params += [("INDIC", condition, "") for condition in p.design.conditions]
    params += [("TDIGRP", condition, "") for condition in p.design.conditions[:1]]
    rows = []
    counter: dict[str, int] = {}
    longest = 0
    for code, value, null_flavor in params:
        counter[code] = counter.get(code, 0) + 1
        pieces = _split(value) if value else [""]
        longest = max(longest, len(pieces))
        coded, reference = _CODED.get(code, ("", ""))
        rows.append(
            {
                **_id(snapshot, "TS"),
                "TSSEQ": counter[code],
                "TSGRPID": "",
                "TSPARMCD": code,
                "TSPARM": _tsparm(code),
                "TSVAL": pieces[0],
                **{f"TSVAL{i}": piece for i, piece in enumerate(pieces[1:], start=1)},
                "TSVALNF": null_flavor,
                "TSVALCD": coded,
                "TSVCDREF": reference,
                "TSVCDVER": CT_VERSION if reference == "CDISC CT" else "",
            }
        )
    variables = (
        *_TD_ID,
        V("TSSEQ", "Sequence Number", "Num", origin="Derived", role="Identifier"),
        V("TSGRPID", "Group ID", origin="Protocol", role="Identifier"),
        V("TSPARMCD", "Trial Summary Parameter Short Name", codelist="TSPARMCD", origin="Protocol", role="Topic"),
        V("TSPARM", "Trial Summary Parameter", codelist="TSPARM", origin="Protocol", role="Synonym Qualifier"),
        V("TSVAL", "Parameter Value", origin="Protocol", role="Result Qualifier"),
        *(V(f"TSVAL{i}", f"Parameter Value Part {_PART[i]}", origin="Protocol", role="Result Qualifier")
          for i in range(1, longest)),
        V("TSVALNF", "Parameter Null Flavor", codelist="NULLFLAV", origin="Protocol", role="Result Qualifier"),
        V("TSVALCD", "Parameter Value Code", origin="Protocol", role="Result Qualifier"),
        V("TSVCDREF", "Name of the Reference Terminology", origin="Protocol", role="Result Qualifier"),
        V("TSVCDVER", "Version of the Reference Terminology", origin="Protocol", role="Result Qualifier"),
    )  # fmt: skip
    return make_dataset("TS", "Trial Summary", klass="TRIAL DESIGN",
                        structure="One record per trial summary parameter value", keys=("STUDYID", "TSPARMCD", "TSSEQ"),
                        variables=variables, rows=rows)  # fmt: skip


_PART = ("One", "Two", "Three", "Four", "Five", "Six", "Seven", "Eight", "Nine", "Ten")


def _tsparm(code: str) -> str:
    from iliad7.standards.terminology import decode

    return decode("TSPARMCD", code)
