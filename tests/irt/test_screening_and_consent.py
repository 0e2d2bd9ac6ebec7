"""Screening records are versions with their verdict; consent moves screened to consented."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from iliad7.errors import AccessDenied, ActionRefused, InputError, InvalidTransition

from .conftest import eligible_record

pytestmark = pytest.mark.django_db

WHEN = datetime(2026, 11, 20, 14, 0, tzinfo=UTC)


@pytest.fixture
def screened(staff: dict[str, Any]) -> Any:
    from iliad7.store.actions import create_participant

    return create_participant(site="MSKCC", acting_user=staff["coord"], channel="web")


def test_eligible_record_is_saved_with_its_verdict_and_every_criterion(screened: Any, staff: dict[str, Any]) -> None:
    from iliad7.store.actions import latest_screening, save_screening
    from iliad7.store.models import AuditRecord

    version = save_screening(screened, eligible_record(), acting_user=staff["coord"], channel="web")
    assert (version.version, version.verdict, version.failed, version.unknown) == (1, "eligible", [], [])
    assert {c["status"] for c in version.criteria} == {"pass"}
    assert all(c["reason"] for c in version.criteria)
    assert latest_screening(screened).pk == version.pk
    audit = AuditRecord.objects.get(action="screening.save")
    assert json.loads(audit.new_value)["verdict"] == "eligible" and audit.actor == "coord"


def test_incomplete_record_can_be_saved_and_resumed_later(screened: Any, staff: dict[str, Any]) -> None:
    from iliad7.store.actions import latest_screening, save_screening, screening_history

    partial = eligible_record(sofa=None, weight_kg=None)
    first = save_screening(screened, partial, acting_user=staff["coord"], channel="web")
    assert first.verdict == "incomplete" and "EXC-SOFA" in first.unknown
    second = save_screening(screened, eligible_record(), acting_user=staff["coord"], channel="web", reason="labs back")
    assert (second.version, second.verdict, second.reason) == (2, "eligible", "labs back")
    assert [v.verdict for v in screening_history(screened)] == ["incomplete", "eligible"]
    assert latest_screening(screened).version == 2


def test_a_screening_correction_needs_a_reason_completion_does_not(screened: Any, staff: dict[str, Any]) -> None:
    from iliad7.store.actions import save_screening, screening_history
    from iliad7.store.models import AuditRecord

    save_screening(screened, eligible_record(weight_kg=None), acting_user=staff["coord"], channel="web")
    completed = save_screening(screened, eligible_record(), acting_user=staff["coord"], channel="web")
    assert (completed.version, completed.reason) == (2, "record completed")  # a value given for the first time
    before = AuditRecord.objects.count()
    for reason in ("", "   "):
        with pytest.raises(InputError) as refused:
            save_screening(screened, eligible_record(weight_kg=81), acting_user=staff["coord"], channel="web",
                           reason=reason)  # fmt: skip
        assert refused.value.field == "reason" and "weight_kg" in refused.value.message
    with pytest.raises(InputError) as removed:  # taking a saved value away is a correction too
        save_screening(screened, eligible_record(weight_kg=None), acting_user=staff["coord"], channel="web")
    assert removed.value.field == "reason"
    with pytest.raises(InputError) as same:
        save_screening(screened, eligible_record(), acting_user=staff["coord"], channel="web", reason="again")
    assert same.value.field == "record"
    assert AuditRecord.objects.count() == before and len(screening_history(screened)) == 2
    corrected = save_screening(
        screened, eligible_record(weight_kg=81), acting_user=staff["coord"], channel="web", reason="scale recalibrated"
    )
    assert (corrected.version, corrected.reason) == (3, "scale recalibrated")


def test_bad_screening_input_names_the_field_and_stores_nothing(screened: Any, staff: dict[str, Any]) -> None:
    from iliad7.store.actions import save_screening
    from iliad7.store.models import AuditRecord, ScreeningVersion

    before = AuditRecord.objects.count()
    with pytest.raises(InputError) as bad:
        save_screening(screened, eligible_record(sofa=99), acting_user=staff["coord"], channel="web")
    assert bad.value.field.startswith("sofa")
    with pytest.raises(InputError) as nested:
        record = eligible_record()
        record["alc"][0]["value"] = "low"
        save_screening(screened, record, acting_user=staff["coord"], channel="web")
    assert nested.value.field == "alc[0].value"
    with pytest.raises(InputError) as unknown_key:
        save_screening(screened, eligible_record(favourite_colour="blue"), acting_user=staff["coord"], channel="web")
    assert unknown_key.value.field == "favourite_colour"
    assert ScreeningVersion.objects.count() == 0 and AuditRecord.objects.count() == before


def test_screening_at_another_site_is_refused(screened: Any, staff: dict[str, Any]) -> None:
    from iliad7.store.actions import save_screening

    with pytest.raises(AccessDenied):
        save_screening(screened, eligible_record(), acting_user=staff["coord_mdacc"], channel="web")


def test_ineligible_participant_screen_fails_with_the_failed_criteria(screened: Any, staff: dict[str, Any]) -> None:
    from iliad7.store.actions import record_screen_failure, save_screening
    from iliad7.store.models import AuditRecord

    save_screening(screened, eligible_record(clinical_frailty_scale=8), acting_user=staff["coord"], channel="web")
    record_screen_failure(screened, acting_user=staff["coord"], channel="web", reason="")
    assert screened.status == "screen_failed"
    audit = AuditRecord.objects.get(action="screening.fail")
    assert json.loads(audit.new_value)["failed"] == ["EXC-FRAILTY"]
    assert "EXC-FRAILTY" in audit.reason


def test_screen_failure_without_an_ineligible_verdict_needs_a_reason(screened: Any, staff: dict[str, Any]) -> None:
    from iliad7.store.actions import record_screen_failure, save_screening

    save_screening(screened, eligible_record(), acting_user=staff["coord"], channel="web")
    with pytest.raises(InputError, match="reason"):
        record_screen_failure(screened, acting_user=staff["coord"], channel="web", reason=" ")
    record_screen_failure(screened, acting_user=staff["coord"], channel="web", reason="declined to take part")
    assert screened.status == "screen_failed"


def test_screening_log_counts_by_verdict_and_failed_criterion(
    staff: dict[str, Any], enrol: Any, allocation: Any
) -> None:
    from iliad7.store.actions import (
        create_participant,
        randomize_participant,
        record_screen_failure,
        screening_log,
    )

    enrol()  # eligible, consented
    randomize_participant(enrol(), acting_user=staff["inv"], confirmation=True, channel="web")
    frail = enrol(record=eligible_record(clinical_frailty_scale=8), consent=False)
    record_screen_failure(frail, acting_user=staff["coord"], channel="web", reason="")
    enrol(record=eligible_record(clinical_frailty_scale=7, sofa=12), consent=False)
    enrol(record=eligible_record(sofa=None), consent=False)
    create_participant(site="MSKCC", acting_user=staff["coord"], channel="web")
    enrol(site="MDACC")
    log = screening_log(staff["dm"])
    assert log["MSKCC"] == {
        "screened": 6,
        "not_assessed": 1,
        "eligible": 2,
        "ineligible": 2,
        "incomplete": 1,
        "screen_failed": 1,
        "consented": 2,
        "randomized": 1,
        "ineligible_by_criterion": {"EXC-FRAILTY": 2, "EXC-SOFA": 1},
    }
    assert log["MDACC"]["screened"] == 1
    assert set(screening_log(staff["coord"])) == {"MSKCC"}  # site-scoped
    assert set(screening_log(staff["dm"], "MDACC")) == {"MDACC"}


def test_written_consent_moves_screened_to_consented(screened: Any, staff: dict[str, Any]) -> None:
    from iliad7.store.actions import open_reconsent_tasks, record_consent
    from iliad7.store.models import AuditRecord

    consent = record_consent(
        screened,
        consent_type="written",
        given_by="participant",
        obtained_at=WHEN,
        form_version="v1.0",
        obtained_by="Dr A",
        acting_user=staff["coord"],
        channel="web",
    )
    screened.refresh_from_db()
    assert screened.status == "consented" and consent.form_version == "v1.0"
    audit = AuditRecord.objects.get(action="consent.record")
    assert json.loads(audit.old_value) == {"status": "screened"}
    assert open_reconsent_tasks(staff["coord"]) == []
    with pytest.raises(InvalidTransition):
        record_consent(
            screened,
            consent_type="written",
            given_by="participant",
            obtained_at=WHEN,
            form_version="v1.0",
            obtained_by="Dr A",
            acting_user=staff["coord"],
            channel="web",
        )


def test_emergency_oral_consent_opens_a_reconsent_task_until_written_reconsent(
    screened: Any, staff: dict[str, Any]
) -> None:
    from iliad7.store.actions import complete_reconsent, open_reconsent_tasks, record_consent

    record_consent(
        screened,
        consent_type="emergency_oral",
        given_by="legally_authorized_representative",
        obtained_at=WHEN,
        form_version="v1.0-emergency",
        obtained_by="Dr B",
        acting_user=staff["inv"],
        channel="web",
    )
    tasks = open_reconsent_tasks(staff["coord"])
    assert [t.participant.pk for t in tasks] == [screened.pk]
    assert open_reconsent_tasks(staff["coord_mdacc"]) == []  # other site
    complete_reconsent(
        screened,
        obtained_at=WHEN + timedelta(days=2),
        form_version="v1.0",
        obtained_by="Dr B",
        acting_user=staff["coord"],
        channel="web",
    )
    assert open_reconsent_tasks(staff["coord"]) == []
    with pytest.raises(ActionRefused, match="no open re-consent task"):
        complete_reconsent(
            screened,
            obtained_at=WHEN,
            form_version="v1.0",
            obtained_by="Dr B",
            acting_user=staff["coord"],
            channel="web",
        )


@pytest.mark.parametrize(
    ("field", "changes"),
    [
        ("consent_type", {"consent_type": "implied"}),
        ("given_by", {"given_by": "neighbour"}),
        ("obtained_at", {"obtained_at": datetime(2026, 11, 20, 14, 0)}),  # naive
        ("form_version", {"form_version": " "}),
        ("obtained_by", {"obtained_by": ""}),
    ],
)
def test_consent_with_a_bad_field_is_refused_naming_it(
    field: str, changes: dict[str, Any], screened: Any, staff: dict[str, Any]
) -> None:
    from iliad7.store.actions import record_consent
    from iliad7.store.models import Consent

    args: dict[str, Any] = {
        "consent_type": "written",
        "given_by": "participant",
        "obtained_at": WHEN,
        "form_version": "v1.0",
        "obtained_by": "Dr A",
        **changes,
    }
    with pytest.raises(InputError) as bad:
        record_consent(screened, acting_user=staff["coord"], channel="web", **args)
    assert bad.value.field == field
    assert Consent.objects.count() == 0


def test_monitor_cannot_record_consent(screened: Any, staff: dict[str, Any]) -> None:
    from iliad7.store.actions import record_consent

    with pytest.raises(AccessDenied):
        record_consent(
            screened,
            consent_type="written",
            given_by="participant",
            obtained_at=WHEN,
            form_version="v1.0",
            obtained_by="Dr A",
            acting_user=staff["monitor"],
            channel="web",
        )


@pytest.mark.parametrize("table", ["store_screeningversion", "store_consent"])
def test_saved_screening_versions_and_consents_cannot_be_changed_in_the_database(
    table: str, staff: dict[str, Any], enrol: Any
) -> None:
    from django.db import DatabaseError, connection, transaction

    enrol()
    for statement in (f"UPDATE {table} SET channel = 'cli'", f"DELETE FROM {table}"):
        with pytest.raises(DatabaseError, match="append-only"), transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(statement)
