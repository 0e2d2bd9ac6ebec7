"""The participant status state machine refuses every transition the protocol does not allow."""

from __future__ import annotations

import itertools

import pytest

from iliad7.accounts.status import (
    FINAL_STATUSES,
    TRANSITIONS,
    ParticipantStatus,
    check_transition,
)
from iliad7.errors import InputError, InvalidTransition

S = ParticipantStatus
LEGAL = {(a, b) for a, nxt in TRANSITIONS.items() for b in nxt}


def test_every_status_of_the_issue_is_in_the_table() -> None:
    assert {s.value for s in TRANSITIONS} == {
        "screened",
        "consented",
        "screen_failed",
        "randomized",
        "on_treatment",
        "completed",
        "withdrawn",
        "died",
        "lost_to_follow_up",
    }


def test_final_statuses_are_the_ends_of_the_trial_except_lost_to_follow_up() -> None:
    assert {s.value for s in FINAL_STATUSES} == {"screen_failed", "completed", "withdrawn", "died"}


@pytest.mark.parametrize(("current", "target"), sorted(LEGAL))
def test_legal_transition_is_allowed(current: S, target: S) -> None:
    assert check_transition(current, target.value) is target


@pytest.mark.parametrize(
    ("current", "target"),
    sorted(p for p in itertools.product(S, S) if p not in LEGAL),
)
def test_illegal_transition_is_refused_naming_both_statuses(current: S, target: S) -> None:
    with pytest.raises(InvalidTransition) as refused:
        check_transition(current, target)
    message = str(refused.value)
    assert repr(current.value) in message and repr(target.value) in message
    assert refused.value.from_status == current.value
    assert refused.value.to_status == target.value


def test_screen_failure_cannot_be_randomized() -> None:
    with pytest.raises(InvalidTransition, match="none \\(final status\\)"):
        check_transition("screen_failed", "randomized")


def test_screened_participant_cannot_skip_consent() -> None:
    with pytest.raises(InvalidTransition, match="allowed from 'screened': consented, screen_failed"):
        check_transition("screened", "randomized")


def test_unknown_status_is_bad_input_naming_the_field() -> None:
    with pytest.raises(InputError) as bad:
        check_transition("screened", "cured")
    assert bad.value.field == "status"


@pytest.mark.django_db
def test_transition_action_refuses_illegal_change_and_changes_nothing(make_user) -> None:  # type: ignore[no-untyped-def]
    from iliad7.store.actions import create_participant, transition_participant
    from iliad7.store.models import AuditRecord, Participant

    ann = make_user("ann", ["coordinator"], ["MSKCC"])
    p = create_participant(site="MSKCC", acting_user=ann, channel="web")
    before = AuditRecord.objects.count()
    with pytest.raises(InvalidTransition, match="from 'screened' to 'on_treatment'"):
        transition_participant(p, "on_treatment", acting_user=ann, channel="web")
    assert Participant.objects.get(pk=p.pk).status == "screened"
    assert AuditRecord.objects.count() == before


@pytest.mark.django_db
def test_participant_follows_the_protocol_path_with_one_audit_record_per_step(make_user) -> None:  # type: ignore[no-untyped-def]
    import json

    from iliad7.store.actions import create_participant, transition_participant
    from iliad7.store.models import AuditRecord

    ann = make_user("ann", ["coordinator"], ["MSKCC"])
    p = create_participant(site="MSKCC", acting_user=ann, channel="web")
    assert p.screening_number == "MSKCC-S001"
    transition_participant(p, "consented", acting_user=ann, channel="web")
    transition_participant(p, "randomized", acting_user=ann, channel="web", usubjid="ILIAD7-US-O-MSKCC-001")
    transition_participant(p, "on_treatment", acting_user=ann, channel="web")
    transition_participant(p, "completed", acting_user=ann, channel="web")
    assert (p.status, p.usubjid) == ("completed", "ILIAD7-US-O-MSKCC-001")
    steps = [
        (json.loads(r.old_value)["status"], json.loads(r.new_value)["status"])
        for r in AuditRecord.objects.filter(action="participant.transition").order_by("id")
    ]
    assert steps == [
        ("screened", "consented"),
        ("consented", "randomized"),
        ("randomized", "on_treatment"),
        ("on_treatment", "completed"),
    ]


@pytest.mark.django_db
def test_usubjid_is_assigned_only_at_randomization(make_user) -> None:  # type: ignore[no-untyped-def]
    from iliad7.store.actions import create_participant, transition_participant

    ann = make_user("ann", ["coordinator"], ["MSKCC"])
    p = create_participant(site="MSKCC", acting_user=ann, channel="web")
    with pytest.raises(InputError) as bad:
        transition_participant(p, "consented", acting_user=ann, channel="web", usubjid="X-1")
    assert bad.value.field == "usubjid"


@pytest.mark.django_db
def test_screening_numbers_are_per_site_and_never_reused(make_user) -> None:  # type: ignore[no-untyped-def]
    from iliad7.store.actions import create_participant

    ann = make_user("ann", ["coordinator"], ["MSKCC", "MDACC"])
    numbers = [
        create_participant(site=code, acting_user=ann, channel="web").screening_number
        for code in ("MSKCC", "MSKCC", "MDACC")
    ]
    assert numbers == ["MSKCC-S001", "MSKCC-S002", "MDACC-S001"]
    with pytest.raises(InputError) as dup:
        create_participant(site="MSKCC", acting_user=ann, channel="web", screening_number="MSKCC-S001")
    assert dup.value.field == "screening_number"
