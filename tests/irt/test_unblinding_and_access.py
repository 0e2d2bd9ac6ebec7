"""The arm is readable only by the unblinded roles, the DSMB in closed session, and after an emergency unblinding."""

from __future__ import annotations

import json
from typing import Any

import pytest

from iliad7.errors import AccessDenied, InputError, ReauthenticationFailed

from .conftest import ARMS, totp_token

pytestmark = pytest.mark.django_db


@pytest.fixture
def pair(allocation: Any, staff: dict[str, Any], enrol: Any) -> dict[str, Any]:
    """Two randomized MSKCC participants and one at MDACC."""
    from iliad7.store.actions import randomize_participant

    people = {"a": enrol(), "b": enrol(), "mdacc": enrol("MDACC")}
    for key, p in people.items():
        investigator = staff["inv_mdacc"] if key == "mdacc" else staff["inv"]
        randomize_participant(p, acting_user=investigator, confirmation=True, channel="web")
        p.refresh_from_db()
    return people


def _slot_arm(participant: Any) -> str:
    from iliad7.store.models import AllocationSlot

    return AllocationSlot.objects.get(participant=participant).arm


@pytest.mark.parametrize(
    ("who", "site", "closed", "allowed"),
    [
        ("stat", "a", False, True),
        ("stat", "mdacc", False, True),
        ("rx", "a", False, True),
        ("rx", "mdacc", False, False),  # pharmacist of another site
        ("dsmb", "a", False, False),
        ("dsmb", "a", True, True),  # closed session
        ("inv", "a", False, False),
        ("inv", "a", True, False),
        ("coord", "a", False, False),
        ("monitor", "a", False, False),
        ("bstat", "a", True, False),
        ("sponsor", "a", False, False),
        ("dm", "a", False, False),
        ("adjudicator", "a", False, False),
        ("admin", "a", False, False),
    ],
)
def test_access_allocation_answers_exactly_the_allowed_roles(
    who: str, site: str, closed: bool, allowed: bool, pair: dict[str, Any], staff: dict[str, Any]
) -> None:
    from iliad7.store.access import access_allocation

    participant = pair[site]
    if closed:
        _schedule_session(staff, [u.username for u in staff.values() if u.username == "dsmb"])
    if allowed:
        assert access_allocation(staff[who], participant, closed_session=closed) == _slot_arm(participant)
    else:
        with pytest.raises(AccessDenied) as denied:
            access_allocation(staff[who], participant, closed_session=closed)
        assert not any(arm in str(denied.value) for arm in ARMS)


def _schedule_session(staff: dict[str, Any], members: list[str], *, opens_in: float = -0.5, hours: float = 2) -> Any:
    from datetime import UTC, datetime, timedelta

    from iliad7.store.actions.dsmb import schedule_closed_session

    start = datetime.now(UTC) + timedelta(hours=opens_in)
    return schedule_closed_session(
        members=members, starts_at=start, ends_at=start + timedelta(hours=hours), purpose="interim safety review",
        acting_user=staff["stat"], channel="web",
    )  # fmt: skip


def test_a_dsmb_member_who_says_the_board_sits_closed_reads_no_arm_without_a_scheduled_session(
    pair: dict[str, Any], staff: dict[str, Any]
) -> None:
    from datetime import UTC, datetime, timedelta

    from iliad7.store.access import access_allocation
    from iliad7.store.models import AuditRecord, ClosedSession

    with pytest.raises(AccessDenied):  # the self-declared closed session of before
        access_allocation(staff["dsmb"], pair["a"], closed_session=True)
    later = _schedule_session(staff, ["dsmb"], opens_in=1)  # scheduled, not open yet
    with pytest.raises(AccessDenied):
        access_allocation(staff["dsmb"], pair["a"], closed_session=True)
    _schedule_session(staff, ["dsmb"])  # open now
    assert access_allocation(staff["dsmb"], pair["a"], closed_session=True) == _slot_arm(pair["a"])
    audit = AuditRecord.objects.filter(action="dsmb.closed_session").order_by("id").last()
    assert audit is not None and audit.actor == "stat" and json.loads(audit.new_value)["members"] == ["dsmb"]
    # Once the window has passed the arm is closed again (the window is the permission).
    ClosedSession.objects.exclude(pk=later.pk).update(ends_at=datetime.now(UTC) - timedelta(seconds=1))
    with pytest.raises(AccessDenied):
        access_allocation(staff["dsmb"], pair["a"], closed_session=True)


@pytest.mark.parametrize(
    ("who", "change", "field"),
    [
        ("dsmb", {}, None),  # only the unblinded statistician schedules
        ("stat", {"members": ["bstat"]}, "members"),  # only DSMB members are admitted
        ("stat", {"hours": 13}, "ends_at"),  # at most 12 hours: not a standing permission
        ("stat", {"hours": -1}, "ends_at"),
        ("stat", {"purpose": " "}, "purpose"),
    ],
)
def test_only_the_unblinded_statistician_schedules_a_bounded_session_for_dsmb_members(
    who: str, change: dict[str, Any], field: str | None, staff: dict[str, Any]
) -> None:
    from datetime import UTC, datetime, timedelta

    from iliad7.store.actions.dsmb import schedule_closed_session
    from iliad7.store.models import ClosedSession

    start = datetime.now(UTC)
    args: dict[str, Any] = {
        "members": change.get("members", ["dsmb"]),
        "starts_at": start,
        "ends_at": start + timedelta(hours=change.get("hours", 2)),
        "purpose": change.get("purpose", "review"),
    }
    expected = AccessDenied if field is None else InputError
    with pytest.raises(expected) as refused:
        schedule_closed_session(**args, acting_user=staff[who], channel="web")
    if field is not None:
        assert refused.value.field == field  # type: ignore[attr-defined]
    assert not ClosedSession.objects.exists()


def test_denied_and_not_randomized_get_the_same_answer(pair: dict[str, Any], staff: dict[str, Any], enrol: Any) -> None:
    from iliad7.store.access import access_allocation

    waiting = enrol()
    with pytest.raises(AccessDenied) as forbidden:
        access_allocation(staff["coord"], pair["a"])
    with pytest.raises(AccessDenied) as missing:
        access_allocation(staff["stat"], waiting)
    n_a, n_w = pair["a"].screening_number, waiting.screening_number
    assert str(forbidden.value).replace(n_a, "N").replace("coord", "U") == str(missing.value).replace(n_w, "N").replace(
        "stat", "U"
    )


def test_emergency_unblinding_reveals_one_arm_to_that_investigator_and_is_audited(
    pair: dict[str, Any], staff: dict[str, Any]
) -> None:
    from iliad7.store.access import access_allocation
    from iliad7.store.actions import unblind_participant
    from iliad7.store.models import AuditRecord

    inv = staff["inv"]
    arm = unblind_participant(
        pair["a"],
        acting_user=inv,
        reason="anaphylaxis: treating team must know",
        otp_token=totp_token(inv),
        channel="web",
    )
    assert arm == _slot_arm(pair["a"])
    assert access_allocation(inv, pair["a"]) == arm  # readable again by that investigator
    with pytest.raises(AccessDenied):
        access_allocation(inv, pair["b"])  # never another participant
    record = AuditRecord.objects.get(action="unblinding")
    assert (record.actor, record.object_id, record.reason) == (
        "inv",
        pair["a"].screening_number,
        "anaphylaxis: treating team must know",
    )
    assert not any(arm_name in record.new_value + record.old_value for arm_name in ARMS)


def test_unblinding_is_only_for_the_investigator_who_did_it(
    pair: dict[str, Any], staff: dict[str, Any], make_user: Any
) -> None:
    from iliad7.store.access import access_allocation
    from iliad7.store.actions import unblind_participant

    colleague = make_user("inv-two", ["investigator"], ["MSKCC"])
    unblind_participant(
        pair["a"], acting_user=staff["inv"], reason="SAE", otp_token=totp_token(staff["inv"]), channel="web"
    )
    with pytest.raises(AccessDenied):
        access_allocation(colleague, pair["a"])


def test_unblinding_needs_a_reason(pair: dict[str, Any], staff: dict[str, Any]) -> None:
    from iliad7.store.actions import unblind_participant
    from iliad7.store.models import UnblindingEvent

    with pytest.raises(InputError, match="reason"):
        unblind_participant(
            pair["a"], acting_user=staff["inv"], reason="  ", otp_token=totp_token(staff["inv"]), channel="web"
        )
    assert UnblindingEvent.objects.count() == 0


def test_unblinding_with_a_wrong_code_is_refused_and_the_attempt_audited(
    pair: dict[str, Any], staff: dict[str, Any]
) -> None:
    from iliad7.store.actions import unblind_participant
    from iliad7.store.models import AuditRecord, UnblindingEvent

    good = totp_token(staff["inv"])
    wrong = f"{(int(good) + 1) % 1_000_000:06d}"
    with pytest.raises(ReauthenticationFailed):
        unblind_participant(pair["a"], acting_user=staff["inv"], reason="SAE", otp_token=wrong, channel="web")
    assert UnblindingEvent.objects.count() == 0
    refused = AuditRecord.objects.get(action="unblinding.refused")
    assert refused.object_id == pair["a"].screening_number
    assert not AuditRecord.objects.filter(action="unblinding").exists()


@pytest.mark.parametrize("who", ["coord", "rx", "monitor", "stat", "dsmb", "sponsor", "inv_mdacc"])
def test_only_the_site_investigator_may_unblind(who: str, pair: dict[str, Any], staff: dict[str, Any]) -> None:
    from iliad7.store.actions import unblind_participant

    with pytest.raises(AccessDenied):
        unblind_participant(pair["a"], acting_user=staff[who], reason="SAE", otp_token="000000", channel="web")


@pytest.mark.parametrize("who", ["sponsor", "dsmb", "dm"])
def test_unblinding_events_are_listed_to_oversight_without_the_arm(
    who: str, pair: dict[str, Any], staff: dict[str, Any]
) -> None:
    from iliad7.store.actions import unblind_participant, unblinding_events

    unblind_participant(
        pair["a"], acting_user=staff["inv"], reason="SAE grade 4", otp_token=totp_token(staff["inv"]), channel="web"
    )
    events = unblinding_events(staff[who])
    assert len(events) == 1
    event = events[0]
    assert (event["screening_number"], event["unblinded_by"], event["reason"]) == (
        pair["a"].screening_number,
        "inv",
        "SAE grade 4",
    )
    text = json.dumps(events)
    assert not any(arm in text for arm in ARMS)
    assert pair["b"].screening_number not in text and pair["mdacc"].screening_number not in text


@pytest.mark.parametrize("who", ["coord", "inv", "monitor", "bstat", "adjudicator"])
def test_other_roles_cannot_list_unblinding_events(who: str, staff: dict[str, Any]) -> None:
    from iliad7.store.actions import unblinding_events

    with pytest.raises(AccessDenied):
        unblinding_events(staff[who])
