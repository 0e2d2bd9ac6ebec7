"""Screening: save the screening record as versions, record a screen failure, the per-site log.

A screening record (clinical-rules section 3) is validated with
`iliad7.eligibility.parse_record` and judged with `iliad7.eligibility.screen`
when it is saved; each save appends a version holding the record, who saved it,
when and why, and the verdict with every criterion's status and reason. An
incomplete record can be saved and completed later; randomization reads the
verdict of the latest version.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

import orjson
from django.db import transaction
from pydantic import ValidationError

from iliad7.accounts.roles import Capability
from iliad7.accounts.status import ParticipantStatus, check_transition
from iliad7.audit import trail
from iliad7.errors import ActionRefused, InputError, NotFound
from iliad7.store import access
from iliad7.store.actions._common import check_channel, now, require_text
from iliad7.store.models import Consent, Participant, ScreeningVersion, User

# A screening record may be saved (or corrected) until the participant is randomized or fails screening.
_OPEN_FOR_SCREENING = (ParticipantStatus.SCREENED.value, ParticipantStatus.CONSENTED.value)


def _field_of(error: dict[str, Any]) -> str:
    """The record path of a pydantic error, as `alc[0].value` (union tags left out)."""
    from iliad7.eligibility.record import UNION_TAGS

    path = ""
    for part in error.get("loc", ()):
        if isinstance(part, int):
            path += f"[{part}]"
        elif part not in UNION_TAGS:
            path += f".{part}" if path else str(part)
    if not path:
        # Whole-record checks word their message as "field: problem".
        message = str(error.get("msg", "")).removeprefix("Value error, ")
        head, sep, _ = message.partition(":")
        path = head if sep and " " not in head else "record"
    return path


def parse_screening_data(data: dict[str, Any]) -> tuple[dict[str, Any], Any]:
    """(the record as plain JSON, the parsed record), or an InputError naming the first bad field."""
    from iliad7.eligibility import parse_record

    if not isinstance(data, dict):
        raise InputError("record", f"a screening record is a JSON object, not {type(data).__name__}")
    try:
        plain = orjson.loads(orjson.dumps(data))
    except TypeError as exc:
        raise InputError("record", f"not JSON-compatible: {exc}") from None
    try:
        record = parse_record(plain)
    except ValidationError as exc:
        first = exc.errors()[0]
        message = str(first.get("msg", "invalid")).removeprefix("Value error, ")
        field = _field_of(dict(first))
        raise InputError(field, message.removeprefix(f"{field}: ")) from None
    return plain, record


def evaluate_screening(data: dict[str, Any]) -> dict[str, Any]:
    """The verdict of a record without saving it (for a form that updates as it is filled)."""
    from iliad7.eligibility import screen

    _, record = parse_screening_data(data)
    return screen(record).as_contract()


def save_screening(
    participant: Participant,
    data: dict[str, Any],
    *,
    acting_user: User,
    channel: str,
    reason: str = "",
) -> ScreeningVersion:
    """Append a version of the participant's screening record with its verdict; audited as `screening.save`.

    The first save needs no reason. A later save that changes or removes a
    value saved before is a correction and needs a reason (InputError naming
    `reason`, nothing saved); one that only fills in values not given before
    is kept with the reason given, or "record completed". A save that changes
    nothing is refused (InputError naming `record`).
    """
    from iliad7.eligibility import screen

    check_channel(channel)
    role = access.require(acting_user, Capability.SCREEN_PARTICIPANT, participant.site)
    plain, record = parse_screening_data(data)
    result = screen(record).as_contract()
    with transaction.atomic():
        locked = Participant.objects.select_for_update().get(pk=participant.pk)
        if locked.status not in _OPEN_FOR_SCREENING:
            raise ActionRefused(
                f"participant {locked.screening_number} is {locked.status}: the screening record is closed"
            )
        latest = ScreeningVersion.objects.filter(participant=locked).order_by("-version").first()
        version_number = 1 if latest is None else latest.version + 1
        why = reason.strip()
        if latest is not None:
            corrected, added = record_changes(latest.data, plain)
            if not corrected and not added:
                raise InputError("record", "the screening record is unchanged: nothing to save")
            if corrected and not why:
                shown = ", ".join(corrected[:5]) + (" ..." if len(corrected) > 5 else "")
                raise InputError("reason", f"correcting saved screening value(s) {shown} needs a reason for change")
            why = why or "record completed"
        version = ScreeningVersion.objects.create(
            participant=locked,
            version=version_number,
            data=plain,
            verdict=result["verdict"],
            failed=result["failed"],
            unknown=result["unknown"],
            criteria=result["criteria"],
            recorded_by=acting_user,
            recorded_at=now(),
            reason=why,
            channel=channel,
        )
        trail.append(
            actor=acting_user.username,
            role=role,
            channel=channel,
            action="screening.save",
            object_type="screening",
            object_id=f"{locked.screening_number}/{version_number}",
            old=None if latest is None else {"version": latest.version, "verdict": latest.verdict},
            new={
                "version": version_number,
                "verdict": result["verdict"],
                "failed": result["failed"],
                "unknown": result["unknown"],
                "data": plain,
            },
            reason=why,
        )
    return version


def _leaves(value: Any, path: str = "") -> dict[str, Any]:
    """A JSON value as {path: scalar}, with null and empty values left out (not given)."""
    if isinstance(value, dict):
        found: dict[str, Any] = {}
        for key, inner in value.items():
            found.update(_leaves(inner, f"{path}.{key}" if path else str(key)))
        return found
    if isinstance(value, list):
        found = {}
        for index, inner in enumerate(value):
            found.update(_leaves(inner, f"{path}[{index}]"))
        return found
    return {} if value is None or value == "" else {path: value}


def record_changes(old: Any, new: Any) -> tuple[list[str], list[str]]:
    """(paths whose saved value changed or was removed: corrections; paths given for the first time)."""
    before, after = _leaves(old), _leaves(new)
    corrected = sorted(p for p, v in before.items() if p not in after or after[p] != v)
    added = sorted(p for p in after if p not in before)
    return corrected, added


def latest_screening(participant: Participant) -> ScreeningVersion | None:
    """The participant's most recent screening version (the caller has checked access)."""
    return ScreeningVersion.objects.filter(participant=participant).order_by("-version").first()


def screening_history(participant: Participant) -> list[ScreeningVersion]:
    """Every version of the participant's screening record, oldest first."""
    return list(ScreeningVersion.objects.filter(participant=participant).order_by("version"))


def record_screen_failure(participant: Participant, *, acting_user: User, channel: str, reason: str) -> Participant:
    """Move a screened or consented participant to `screen_failed`; audited as `screening.fail`.

    Needs an `ineligible` latest verdict (its failed criteria are kept as the
    reasons) or, for any other verdict, an explicit reason.
    """
    check_channel(channel)
    role = access.require(acting_user, Capability.CHANGE_STATUS, participant.site)
    with transaction.atomic():
        locked = Participant.objects.select_for_update().get(pk=participant.pk)
        target = check_transition(locked.status, ParticipantStatus.SCREEN_FAILED)
        latest = latest_screening(locked)
        failed = list(latest.failed) if latest is not None and latest.verdict == "ineligible" else []
        if not failed:
            verdict = "no screening record" if latest is None else f"the verdict is {latest.verdict}"
            reason = require_text(
                "reason", reason, f"a screen failure without an ineligible verdict ({verdict}): reason"
            )
        why = reason.strip() or "ineligible: " + ", ".join(failed)
        old_status = locked.status
        locked.status = target.value
        locked.save(update_fields=["status"])
        trail.append(
            actor=acting_user.username,
            role=role,
            channel=channel,
            action="screening.fail",
            object_type="participant",
            object_id=locked.screening_number,
            old={"status": old_status},
            new={
                "status": target.value,
                "failed": failed,
                "screening_version": None if latest is None else latest.version,
            },
            reason=why,
        )
    participant.refresh_from_db()
    return participant


_LOG_COUNTS = (
    "screened",
    "not_assessed",
    "eligible",
    "ineligible",
    "incomplete",
    "screen_failed",
    "consented",
    "randomized",
)


def screening_log(user: User, site_code: str | None = None) -> dict[str, dict[str, Any]]:
    """Per visible site: how many were screened, by latest verdict, failed, consented and randomized.

    `ineligible_by_criterion` counts the ineligible participants by each failed
    criterion id (a participant failing two criteria counts under both): the
    CONSORT diagram's "excluded, by reason". Counts say nothing about arms.
    """
    sites = access.visible_sites(user)
    if site_code is not None:
        sites = sites.filter(code=site_code.strip().upper())
        if not sites.exists():
            raise NotFound(f"no site {site_code!r} visible to {user.username!r}")
    log: dict[str, dict[str, Any]] = {}
    for site in sites.order_by("id"):
        counts: dict[str, Any] = dict.fromkeys(_LOG_COUNTS, 0)
        by_criterion: Counter[str] = Counter()
        participants = list(Participant.objects.filter(site=site).values_list("pk", "status", "usubjid"))
        counts["screened"] = len(participants)
        latest: dict[int, ScreeningVersion] = {}
        for version in ScreeningVersion.objects.filter(participant__site=site).order_by("participant_id", "version"):
            latest[version.participant_id] = version
        consented = set(Consent.objects.filter(participant__site=site).values_list("participant_id", flat=True))
        for pk, status, usubjid in participants:
            saved = latest.get(pk)
            if saved is None:
                counts["not_assessed"] += 1
            else:
                counts[saved.verdict] += 1
                if saved.verdict == "ineligible":
                    by_criterion.update(saved.failed)
            if status == ParticipantStatus.SCREEN_FAILED.value:
                counts["screen_failed"] += 1
            if pk in consented:
                counts["consented"] += 1
            if usubjid:
                counts["randomized"] += 1
        counts["ineligible_by_criterion"] = dict(sorted(by_criterion.items()))
        log[site.code] = counts
    return log
