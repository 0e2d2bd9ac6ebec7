"""Randomization: only an eligible, consented participant, confirmed by their site's investigator."""

from __future__ import annotations

import json
from typing import Any

import pytest

from iliad7.errors import AccessDenied, RandomizationRefused

from .conftest import ARMS, eligible_record

pytestmark = pytest.mark.django_db


def test_randomization_assigns_the_first_slot_of_the_site_stratum(
    allocation: Any, staff: dict[str, Any], enrol: Any
) -> None:
    from iliad7.store.actions import randomization_of, randomize_participant
    from iliad7.store.models import AllocationSlot

    participant = enrol()
    result = randomize_participant(participant, acting_user=staff["inv"], confirmation=True, channel="web")
    first = AllocationSlot.objects.get(allocation_list=allocation, stratum="MSKCC", sequence=1)
    assert (result.randomization_number, result.kit_code) == (first.randomization_number, first.kit_code)
    assert result.randomization_number == "MSKCC-001"
    assert result.usubjid == "ILIAD-7-US-O-MSKCC-001"
    participant.refresh_from_db()
    assert (participant.status, participant.usubjid) == ("randomized", result.usubjid)
    assert first.participant_id == participant.pk
    assert randomization_of(participant) == result
    second = randomize_participant(enrol(), acting_user=staff["inv"], confirmation=True, channel="web")
    assert second.randomization_number == "MSKCC-002"
    other_site = randomize_participant(enrol("MDACC"), acting_user=staff["inv_mdacc"], confirmation=True, channel="web")
    assert other_site.randomization_number == "MDACC-001"


def test_randomization_audit_names_slot_and_kit_but_not_the_arm(
    allocation: Any, staff: dict[str, Any], enrol: Any
) -> None:
    from iliad7.store.actions import randomize_participant
    from iliad7.store.models import AuditRecord

    result = randomize_participant(enrol(), acting_user=staff["inv"], confirmation=True, channel="api")
    record = AuditRecord.objects.get(action="participant.randomize")
    new = json.loads(record.new_value)
    assert (record.actor, record.role, record.channel) == ("inv", "investigator", "api")
    assert new["kit_code"] == result.kit_code and new["usubjid"] == result.usubjid and "slot" in new
    assert "arm" not in new
    assert not any(arm in record.new_value + record.old_value for arm in ARMS)


def _state() -> tuple[Any, ...]:
    from iliad7.store.models import AllocationSlot, AuditRecord, Participant

    return (
        AuditRecord.objects.count(),
        AllocationSlot.objects.filter(participant__isnull=False).count(),
        sorted(Participant.objects.values_list("screening_number", "status", "usubjid")),
    )


REFUSALS = {
    "ineligible": ("screening verdict is ineligible", RandomizationRefused),
    "incomplete": ("screening verdict is incomplete", RandomizationRefused),
    "unconsented": ("only a consented participant", RandomizationRefused),
    "no_screening": ("no screening record", RandomizationRefused),
    "not_confirmed": ("not confirmed", RandomizationRefused),
    "coordinator": ("no role that allows participant.randomize", AccessDenied),
    "other_site": ("no role that allows participant.randomize at site MSKCC", AccessDenied),
    "pharmacist": ("no role that allows participant.randomize", AccessDenied),
    "already_randomized": ("already randomized", RandomizationRefused),
    "screen_failed": ("only a consented participant", RandomizationRefused),
}


@pytest.mark.parametrize("case", sorted(REFUSALS))
def test_refused_randomization_gives_the_reason_and_writes_nothing(
    case: str, allocation: Any, staff: dict[str, Any], enrol: Any
) -> None:
    from iliad7.store.actions import (
        create_participant,
        randomize_participant,
        record_consent,
        record_screen_failure,
    )

    user, confirmation = staff["inv"], True
    if case == "ineligible":
        participant = enrol(record=eligible_record(clinical_frailty_scale=8))
    elif case == "incomplete":
        participant = enrol(record=eligible_record(sofa=None))
    elif case == "unconsented":
        participant = enrol(consent=False)
    elif case == "no_screening":
        participant = create_participant(site="MSKCC", acting_user=staff["coord"], channel="web")
        record_consent(
            participant,
            consent_type="written",
            given_by="participant",
            obtained_at=allocation.created_at,
            form_version="v1",
            obtained_by="Dr A",
            acting_user=staff["coord"],
            channel="web",
        )
    elif case == "screen_failed":
        participant = enrol(consent=False)
        record_screen_failure(participant, acting_user=staff["coord"], channel="web", reason="withdrew interest")
    else:
        participant = enrol()
        user = {"coordinator": staff["coord"], "other_site": staff["inv_mdacc"], "pharmacist": staff["rx"]}.get(
            case, user
        )
        confirmation = case != "not_confirmed"
        if case == "already_randomized":
            randomize_participant(participant, acting_user=staff["inv"], confirmation=True, channel="web")
    participant.refresh_from_db()
    before = _state()
    message, error = REFUSALS[case]
    with pytest.raises(error, match=message):
        randomize_participant(participant, acting_user=user, confirmation=confirmation, channel="web")
    assert _state() == before


def test_exhausted_stratum_is_a_clear_refusal(staff: dict[str, Any], enrol: Any) -> None:
    from iliad7.store.actions import generate_allocation_list, randomize_participant, slot_counts

    stored = generate_allocation_list(seed=77, acting_user=staff["stat"], channel="cli", slots_per_stratum=1)
    capacity = slot_counts(stored)["MSKCC"]  # whole blocks: 2 or 4
    for _ in range(capacity):
        randomize_participant(enrol(), acting_user=staff["inv"], confirmation=True, channel="web")
    last = enrol()
    before = _state()
    with pytest.raises(RandomizationRefused, match="no free slot left in stratum MSKCC"):
        randomize_participant(last, acting_user=staff["inv"], confirmation=True, channel="web")
    assert _state() == before
    # The other stratum is untouched.
    assert randomize_participant(enrol("MDACC"), acting_user=staff["inv_mdacc"], confirmation=True, channel="web")


def test_randomization_without_a_list_is_refused(staff: dict[str, Any], enrol: Any) -> None:
    from iliad7.store.actions import randomize_participant

    with pytest.raises(RandomizationRefused, match="no allocation list"):
        randomize_participant(enrol(), acting_user=staff["inv"], confirmation=True, channel="web")
