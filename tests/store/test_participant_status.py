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
def test_status_changes_have_one_audit_record_each(make_user) -> None:  # type: ignore[no-untyped-def]
    import json
    from datetime import UTC, datetime

    from iliad7.store.actions import create_participant, record_consent, transition_participant
    from iliad7.store.models import AuditRecord

    ann = make_user("ann", ["coordinator"], ["MSKCC"])
    p = create_participant(site="MSKCC", acting_user=ann, channel="web")
    assert p.screening_number == "MSKCC-S001"
    record_consent(
        p, consent_type="written", given_by="participant", obtained_at=datetime(2021, 3, 5, 9, tzinfo=UTC),
        form_version="1.0", obtained_by="Ann", acting_user=ann, channel="web",
    )  # fmt: skip
    transition_participant(p, "withdrawn", acting_user=ann, channel="web", reason="participant withdrew")
    p.refresh_from_db()
    assert p.status == "withdrawn"
    steps = [
        (json.loads(r.old_value)["status"], json.loads(r.new_value)["status"])
        for r in AuditRecord.objects.filter(action="participant.transition").order_by("id")
    ]
    assert steps == [("consented", "withdrawn")]


@pytest.mark.django_db
@pytest.mark.parametrize("status", ["consented", "randomized"])
def test_consent_and_randomization_cannot_be_set_as_a_bare_status(make_user, status: str) -> None:  # type: ignore[no-untyped-def]
    from iliad7.errors import ActionRefused
    from iliad7.store.actions import create_participant, transition_participant

    ann = make_user("ann", ["coordinator", "investigator"], ["MSKCC"])
    p = create_participant(site="MSKCC", acting_user=ann, channel="web")
    with pytest.raises(ActionRefused):
        transition_participant(p, status, acting_user=ann, channel="web")
    p.refresh_from_db()
    assert (p.status, p.usubjid) == ("screened", None)


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
