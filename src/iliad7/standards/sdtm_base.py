"""What every SDTM domain builder shares: dates and study days, visits, sequence numbers, and each
subject's timeline of elements, from which EPOCH and the Subject Elements (SE) domain come.

The timeline is the protocol's: SCREENING from informed consent to dose 1, TREATMENT from dose 1
to the end of treatment, FOLLOW-UP from there to the end of participation. The end of treatment
is the first of the discharge from the index hospital stay, death, withdrawal and the end of day 21
(the day of the last possible dose, clinical-rules section 4), never before the last dose given; it
is known once one of those has happened (or the seventh dose is given). None of this depends on
the arm, so EPOCH is the same in a blinded and an unblinded export.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any

from iliad7.standards.dataset import Variable
from iliad7.standards.snapshot import Snapshot, Subject

SDTMIG_VERSION = "3.4"
SDTM_VERSION = "2.0"
TREATMENT_DAYS = 21  # the last possible dose is on day 21 (day 0 = dose 1)

V = Variable
ID_VARS = (
    V("STUDYID", "Study Identifier", role="Identifier"),
    V("DOMAIN", "Domain Abbreviation", role="Identifier"),
    V("USUBJID", "Unique Subject Identifier", role="Identifier"),
)


def seq_var(domain: str) -> Variable:
    return V(f"{domain}SEQ", "Sequence Number", "Num", origin="Derived", role="Identifier")


def visit_vars() -> tuple[Variable, ...]:
    return (
        V("VISITNUM", "Visit Number", "Num", origin="Protocol", role="Timing"),
        V("VISIT", "Visit Name", origin="Protocol", role="Timing"),
        V("VISITDY", "Planned Study Day of Visit", "Num", origin="Protocol", role="Timing"),
    )


def epoch_var(origin: str = "Derived") -> Variable:
    return V(
        "EPOCH",
        "Epoch",
        codelist="EPOCH",
        origin=origin,
        role="Timing",
        method="The element of the subject's timeline (docs/standards.md) the record's date falls in: "
        "SCREENING before dose 1, TREATMENT to the end of treatment, FOLLOW-UP after; a date without a "
        "time counts at the end of its day.",
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
    """SDTM --DY: day 1 is the date of RFSTDTC (dose 1), the day before it is -1 (no day 0); null without
    RFSTDTC (a screen failure, a participant never dosed)."""
    start = subject.doses[0].given_at if subject.doses else None
    if not dtc or start is None:
        return None
    on = date.fromisoformat(dtc[:10])
    delta = (on - subject.local(start).date()).days
    return delta + 1 if delta >= 0 else delta


def moment_of(dtc: str) -> datetime | None:
    """A --DTC as a local datetime to compare with others; a date alone counts at the end of its day."""
    if not dtc:
        return None
    if "T" in dtc:
        return datetime.fromisoformat(dtc).replace(tzinfo=None)
    return datetime.combine(date.fromisoformat(dtc[:10]), time(23, 59, 59))


def number(text: str) -> float | None:
    try:
        return float(text)
    except (TypeError, ValueError):
        return None


def yn(text: str) -> str:
    return {"true": "Y", "false": "N"}.get(str(text).lower(), "")


def base(snapshot: Snapshot, subject: Subject, domain: str) -> dict[str, Any]:
    return {"STUDYID": snapshot.protocol.id, "DOMAIN": domain, "USUBJID": subject.usubjid}


def sequenced(domain: str, rows: list[dict[str, Any]], order: Callable[[dict[str, Any]], Any]) -> list[dict[str, Any]]:
    rows.sort(key=lambda r: (r["USUBJID"], order(r)))
    counter: dict[str, int] = {}
    for row in rows:
        counter[row["USUBJID"]] = counter.get(row["USUBJID"], 0) + 1
        row[f"{domain}SEQ"] = counter[row["USUBJID"]]
    return rows


# ---- visits ---------------------------------------------------------------------------------------


def visitdy(target_day: int) -> int:
    """The protocol's day (0 = dose 1) on the SDTM scale (1 = dose 1)."""
    return target_day + 1 if target_day >= 0 else target_day


class Visits:
    def __init__(self, snapshot: Snapshot) -> None:
        visits = snapshot.protocol.schedule.visits
        self.by_id = {v.id: (index, v) for index, v in enumerate(visits, start=1)}
        self.by_dose = {v.dose: v.id for v in visits if v.dose}

    def columns(self, visit_id: str) -> dict[str, Any]:
        if visit_id not in self.by_id:
            return {"VISITNUM": None, "VISIT": "", "VISITDY": None}
        index, visit = self.by_id[visit_id]
        return {"VISITNUM": index, "VISIT": visit.name.upper(), "VISITDY": visitdy(visit.target_day)}

    def target_day(self, visit_id: str) -> int | None:
        return self.by_id[visit_id][1].target_day if visit_id in self.by_id else None


# ---- the subject's timeline -----------------------------------------------------------------------


@dataclass(frozen=True)
class Boundary:
    """A moment that starts or ends an element: `at` to compare, `dtc` as SDTM writes it."""

    at: datetime
    dtc: str


@dataclass(frozen=True)
class Timeline:
    consent: Boundary | None
    first_dose: Boundary | None
    last_dose: Boundary | None
    end_of_treatment: Boundary | None  # None: treatment goes on (or never started)
    treatment_ended_by: str  # discharge, death, withdrawal, day21 or ""
    end_of_study: Boundary | None  # END-OF-STUDY, else death
    death: Boundary | None
    screening: Boundary | None  # a screen failure's screening (the record's T0)


def _boundary(subject: Subject, raw: Any) -> Boundary | None:
    dtc = iso(subject, raw)
    at = moment_of(dtc)
    return None if at is None else Boundary(at, dtc)


def _first(subject: Subject, form: str, item: str, where: Callable[[Any], bool] = lambda r: True) -> str:
    for record in sorted(subject.forms_of(form), key=lambda r: r.instance):
        if where(record) and record.get(item):
            return record.get(item)
    return ""


def timeline(subject: Subject) -> Timeline:
    consent = _boundary(subject, min(subject.consents)) if subject.consents else None
    first = _boundary(subject, subject.doses[0].given_at) if subject.doses else None
    last = _boundary(subject, subject.doses[-1].given_at) if subject.doses else None
    death = _boundary(subject, _first(subject, "DEATH", "death_date"))
    ending = {r.get("end_status"): r for r in subject.forms_of("END-OF-STUDY")}
    end_date = next((r.get("end_date") for r in subject.forms_of("END-OF-STUDY") if r.get("end_date")), "")
    end_of_study = _boundary(subject, end_date) or death
    screening = None
    if subject.screen_failed:
        screening = _boundary(subject, subject.screening.get("baseline_time"))
    eot: Boundary | None = None
    ended_by = ""
    if first is not None:
        candidates: list[tuple[Boundary, str]] = []
        discharge = _boundary(
            subject,
            _first(
                subject,
                "HOSPITAL-STAY",
                "discharged_at",
                lambda r: r.get("stay_type") == "hospital" and r.get("readmission") != "true",
            ),
        )
        if discharge is not None:
            candidates.append((discharge, "discharge"))
        if death is not None:
            candidates.append((death, "death"))
        withdrawn = {"withdrew_consent", "withdrawn_by_investigator", "lost_to_follow_up"} & set(ending)
        if withdrawn:
            record = ending[sorted(withdrawn)[0]]
            moment = _boundary(subject, record.get("end_date"))
            if moment is not None:
                candidates.append((moment, "withdrawal"))
        day21 = (first.at.date() + timedelta(days=TREATMENT_DAYS)).isoformat()
        known = bool(candidates) or bool(ending) or len(subject.doses) >= 7
        candidates.append((Boundary(moment_of(day21), day21), "day21"))  # type: ignore[arg-type]
        if known:
            eot, ended_by = min(candidates, key=lambda c: c[0].at)
            if last is not None and eot.at < last.at:
                eot, ended_by = last, "day21"
    return Timeline(consent, first, last, eot, ended_by, end_of_study, death, screening)


def epoch_at(line: Timeline, dtc: str, *, planned_day: int | None = None) -> str:
    """The epoch of a record dated `dtc` (or, undated, of its visit's planned day)."""
    if line.screening is not None:
        return "SCREENING"
    moment = moment_of(dtc)
    if moment is None and planned_day is not None and line.first_dose is not None:
        if planned_day < 0:
            return "SCREENING"
        moment = datetime.combine(line.first_dose.at.date() + timedelta(days=planned_day), time(23, 59, 59))
    if moment is None or line.first_dose is None or moment < line.first_dose.at:
        return "SCREENING"
    if line.end_of_treatment is None or moment <= line.end_of_treatment.at:
        return "TREATMENT"
    return "FOLLOW-UP"


def end_of_day(dtc: str) -> datetime | None:
    return moment_of(dtc[:10]) if dtc else None
