"""The audit trail is readable by blinded roles: no audit value of any IRT action names an arm.

A whole course runs through the actions (screening, consent, list generation,
randomization of both arms, preparation, doses, wastage, return, export,
verification, emergency unblinding); then every audit record's old and new
value is searched for the arm names and for the placebo's contents.
"""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest

from .conftest import totp_token

pytestmark = pytest.mark.django_db

REVEALING = ("cyt107", "placebo", "saline")


def test_no_audit_value_names_an_arm_after_a_whole_course(allocation: Any, staff: dict[str, Any], enrol: Any) -> None:
    from iliad7.store import actions
    from iliad7.store.models import AllocationSlot, AuditRecord

    actions.record_drug_receipt(
        site_code="MSKCC",
        lot="L1",
        expiry=date.today() + timedelta(days=365),
        vials=20,
        acting_user=staff["rx"],
        channel="web",
    )
    day0 = datetime.now(UTC).replace(microsecond=0) - timedelta(days=2)  # a past dose 1, after randomization
    arms_seen: set[str] = set()
    while arms_seen != {"CYT107", "placebo"}:
        p = enrol()
        actions.randomize_participant(
            p, acting_user=staff["inv"], confirmation=True, channel="web", randomized_at=day0 - timedelta(hours=1)
        )
        arms_seen.add(AllocationSlot.objects.get(participant=p).arm)
        for dose in (1, 2):
            actions.prepare_dose(
                p,
                dose,
                weight_kg=Decimal("64.3"),
                concentration_ug_per_ml=Decimal("250"),
                lot="L1",
                acting_user=staff["rx"],
                channel="web",
                prepared_at=day0 - timedelta(hours=1),
            )
        actions.record_dose_given(
            p,
            1,
            given_at=day0,
            injection_site="left thigh",
            volume_ml=Decimal("2.57"),
            local_reaction=False,
            acting_user=staff["coord"],
            channel="web",
        )
    actions.unblind_participant(
        p, acting_user=staff["inv"], reason="SAE", otp_token=totp_token(staff["inv"]), channel="web"
    )
    actions.record_wastage(
        site_code="MSKCC", lot="L1", vials=1, reason="cracked", acting_user=staff["rx"], channel="web"
    )
    actions.record_return(site_code="MSKCC", lot="L1", vials=1, acting_user=staff["rx"], channel="web")
    actions.export_allocation_list(acting_user=staff["stat"], channel="cli")
    assert actions.verify_allocation_list(acting_user=staff["stat"])
    emergency = enrol(consent=False)
    actions.record_consent(
        emergency,
        consent_type="emergency_oral",
        given_by="legally_authorized_representative",
        obtained_at=day0,
        form_version="v1",
        obtained_by="Dr A",
        acting_user=staff["inv"],
        channel="web",
    )
    actions.complete_reconsent(
        emergency,
        obtained_at=day0 + timedelta(days=1),
        form_version="v1",
        obtained_by="Dr A",
        acting_user=staff["coord"],
        channel="web",
    )

    # The audited reads of what holds an arm (issue 16) are in the trail too, and must not name it either.
    assert actions.pharmacy_worksheet(p, acting_user=staff["rx"], channel="web")
    actions.unblinding_events(staff["dsmb"], channel="web")
    actions_seen = set(AuditRecord.objects.values_list("action", flat=True))
    assert {
        "participant.randomize",
        "dose.prepare",
        "dose.given",
        "unblinding",
        "export",
        "drug.wasted",
        "read.pharmacy_worksheet",
        "read.allocation_list",
        "read.unblinding_events",
    } <= actions_seen
    leaks = [
        (r.id, r.action)
        for r in AuditRecord.objects.all()
        if any(word in (r.old_value + r.new_value).lower() for word in REVEALING)
    ]
    assert leaks == []


def test_blinded_queries_return_nothing_that_names_an_arm(allocation: Any, staff: dict[str, Any], enrol: Any) -> None:
    from iliad7.store import actions

    p = enrol()
    actions.randomize_participant(p, acting_user=staff["inv"], confirmation=True, channel="web")
    p.refresh_from_db()
    outputs = [
        actions.screening_log(staff["sponsor"]),
        actions.randomization_of(p).as_dict(),
        [t.pk for t in actions.open_reconsent_tasks(staff["coord"])],
        actions.unblinding_events(staff["dsmb"]),
        actions.latest_screening(p).criteria,
    ]
    text = json.dumps(outputs, default=str).lower()
    assert not any(word in text for word in ("cyt107", "placebo"))
