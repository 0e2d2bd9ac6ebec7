"""A guarded, read-only snapshot of the trial database for the standards exports.

Every read goes through the store's guarded functions: the participants are
`access.visible_participants(user)` (site roles see their sites only), and a
participant's arm is read only through `access.access_allocation`, and only
when `access.may_read_arm` says the user may know it. A blinded user's
snapshot holds no arm at all (`arm` is None), so nothing built from it can
carry one. Randomized participants (those with a USUBJID) and screen failures
are exported; a screen failure has no arm, and its USUBJID is the study id and
its screening number (it never had a randomization number).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from iliad7.protocol.models import Protocol


@dataclass(frozen=True)
class Dose:
    number: int
    given_at: datetime
    volume_ml: float
    dose_ug: int
    injection_site: str
    label: str


@dataclass(frozen=True)
class FormRecord:
    """The current values of one form instance: item -> (value, unit)."""

    form: str
    visit: str
    instance: int
    values: dict[str, tuple[str, str]]

    def get(self, item: str) -> str:
        return self.values.get(item, ("", ""))[0]

    def unit(self, item: str) -> str:
        return self.values.get(item, ("", ""))[1]


@dataclass(frozen=True)
class Version:
    """One stored version of one item value (for ODM audit records)."""

    form: str
    visit: str
    instance: int
    item: str
    version: int
    value: str
    unit: str
    recorded_by: str
    recorded_at: datetime
    reason: str
    channel: str
    derived: bool


@dataclass(frozen=True)
class Subject:
    screening_number: str
    usubjid: str
    site: str
    zone: ZoneInfo
    status: str
    screening: dict[str, Any]
    consents: tuple[datetime, ...]
    randomized_at: datetime | None
    doses: tuple[Dose, ...]
    forms: tuple[FormRecord, ...]
    versions: tuple[Version, ...]
    arm: str | None  # None: the exporting user may not know it
    # SECONDARY-INFECTION form instance -> the Secondary Infections Committee's current decision
    adjudications: dict[int, str] = field(default_factory=dict)
    # A screen failure: the criteria its latest screening verdict failed (or could not judge)
    screen_failed: bool = False
    failed_criteria: tuple[str, ...] = ()
    unknown_criteria: tuple[str, ...] = ()

    def forms_of(self, form: str) -> list[FormRecord]:
        return [f for f in self.forms if f.form == form]

    @property
    def reference_start(self) -> datetime | None:
        """Study day 0 (protocol: the day of dose 1 = baseline T0): dose 1, else the screening T0."""
        if self.doses:
            return self.doses[0].given_at
        raw = self.screening.get("baseline_time")
        return datetime.fromisoformat(raw) if raw else None

    def local(self, moment: datetime) -> datetime:
        return moment.astimezone(self.zone).replace(tzinfo=None) if moment.tzinfo else moment

    def age(self) -> int | None:
        birth, start = self.screening.get("birth_date"), self.reference_start
        if not birth or start is None:
            return None
        born, on = date.fromisoformat(birth), self.local(start).date()
        return on.year - born.year - ((on.month, on.day) < (born.month, born.day))


@dataclass(frozen=True)
class Snapshot:
    protocol: Protocol
    exported_by: str
    blinded: bool  # True when the user may not read the arm of at least one exported subject
    subjects: tuple[Subject, ...]
    taken_at: datetime
    sites: dict[str, str] = field(default_factory=dict)


def read_snapshot(user: Any, *, closed_session: bool = False) -> Snapshot:
    """Everything the standards exports need, as `user` may see it (site scoping and blinding applied).

    `closed_session` is a DSMB closed session (the closed report): the DSMB's roles read the arm
    only then (`access.may_read_arm`).
    """
    from iliad7.store import access
    from iliad7.store.actions import consents_of, current_values, doses_given, latest_screening
    from iliad7.store.actions._common import current_protocol, now
    from iliad7.store.actions.pharmacy import site_zone
    from iliad7.store.actions.randomization import randomized_at
    from iliad7.store.models import InfectionAdjudication, ItemValue

    protocol = current_protocol()
    subjects = []
    blinded = False
    visible = access.visible_participants(user)
    people = list(visible.exclude(usubjid__isnull=True).exclude(usubjid="").order_by("usubjid"))
    people += list(visible.filter(status="screen_failed").order_by("screening_number"))
    for participant in people:
        screen_failed = participant.status == "screen_failed" and not participant.usubjid
        arm = None
        if screen_failed:
            pass  # never randomized: no arm to read or to hide
        elif access.may_read_arm(user, participant, closed_session=closed_session):
            arm = access.access_allocation(user, participant, closed_session=closed_session)
        else:
            blinded = True
        screening = latest_screening(participant)
        doses = tuple(
            Dose(
                number=d.dose_number,
                given_at=d.given_at,
                volume_ml=float(d.volume_ml),
                dose_ug=int(d.preparation.dose_ug),
                injection_site=d.injection_site,
                label=d.preparation.label,
            )
            for d in doses_given(participant)
        )
        grouped: dict[tuple[str, str, int], dict[str, tuple[str, str]]] = defaultdict(dict)
        for value in current_values(participant):
            grouped[(value.form, value.visit, value.instance)][value.item] = (value.value, value.unit)
        versions = tuple(
            Version(
                form=v.form,
                visit=v.visit,
                instance=v.instance,
                item=v.item,
                version=v.version,
                value=v.value,
                unit=v.unit,
                recorded_by=v.recorded_by.username,
                recorded_at=v.recorded_at,
                reason=v.reason,
                channel=v.channel,
                derived=v.derivation is not None,
            )
            for v in ItemValue.objects.filter(participant=participant)
            .select_related("recorded_by")
            .order_by("form", "visit", "instance", "item", "version")
        )
        subjects.append(
            Subject(
                screening_number=participant.screening_number,
                usubjid=participant.usubjid or f"{protocol.id}-{participant.screening_number}",
                site=participant.site.code,
                zone=site_zone(participant.site),
                status=participant.status,
                screening=dict(screening.data) if screening is not None else {},
                consents=tuple(c.obtained_at for c in consents_of(participant)),
                randomized_at=randomized_at(participant),
                doses=doses,
                forms=tuple(FormRecord(f, v, i, values) for (f, v, i), values in sorted(grouped.items())),
                versions=versions,
                arm=arm,
                adjudications={
                    row.instance: row.decision
                    for row in InfectionAdjudication.objects.filter(participant=participant).order_by("version")
                },
                screen_failed=screen_failed,
                failed_criteria=tuple(screening.failed) if screening is not None and screen_failed else (),
                unknown_criteria=tuple(screening.unknown) if screening is not None and screen_failed else (),
            )
        )
    return Snapshot(
        protocol=protocol,
        exported_by=user.username,
        blinded=blinded,
        subjects=tuple(subjects),
        taken_at=now(),
        sites={s.code: s.name for s in protocol.sites},
    )
