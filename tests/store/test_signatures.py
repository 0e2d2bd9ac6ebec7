"""Electronic signatures re-ask password and second factor and are bound to what they sign."""

from __future__ import annotations

import json
import time

import pytest
from django.db import connection

from iliad7.errors import InputError, ReauthenticationFailed
from iliad7.store.triggers import drop_statements

PASSWORD = "correct-horse-battery-staple"  # as make_user in conftest sets it

pytestmark = pytest.mark.django_db


def _token(user, offset_steps: int = 0) -> str:  # type: ignore[no-untyped-def]
    from django_otp.oath import TOTP
    from django_otp.plugins.otp_totp.models import TOTPDevice

    device = TOTPDevice.objects.get(user=user)
    totp = TOTP(device.bin_key, device.step, device.t0, device.digits, device.drift)
    totp.time = time.time() + offset_steps * device.step
    return f"{totp.token():0{device.digits}d}"


@pytest.fixture
def pi(make_user):  # type: ignore[no-untyped-def]
    from iliad7.store.actions import add_totp_device

    user = make_user("pastores", ["investigator"], ["MSKCC"], full_name="Steve Pastores, MD")
    add_totp_device(user, acting_user=None, channel="cli")
    return user


@pytest.fixture
def casebook(pi):  # type: ignore[no-untyped-def]
    from iliad7.store.actions import create_participant, record_item_value

    p = create_participant(site="MSKCC", acting_user=pi, channel="web")
    record_item_value(
        p,
        form="LB",
        item="LYMPH",
        visit="D1",
        value="640",
        unit="cells/uL",
        acting_user=pi,
        channel="web",
    )
    return p


def test_signature_shows_printed_name_utc_time_and_meaning(pi, casebook) -> None:  # type: ignore[no-untyped-def]
    from iliad7.store.actions import sign_record, verify_signature

    sig = sign_record(pi, casebook, "I approve this casebook", PASSWORD, _token(pi))
    assert sig.printed_name == "Steve Pastores, MD"
    assert sig.meaning == "I approve this casebook"
    assert sig.signed_at.utcoffset().total_seconds() == 0
    assert (sig.target_type, sig.target_id) == ("participant", casebook.screening_number)
    assert verify_signature(sig).ok


def test_signing_is_audited(pi, casebook) -> None:  # type: ignore[no-untyped-def]
    from iliad7.store.actions import sign_record
    from iliad7.store.models import AuditRecord

    sig = sign_record(pi, casebook, "I approve this casebook", PASSWORD, _token(pi))
    record = AuditRecord.objects.get(action="signature.apply")
    assert (record.actor, record.role, record.object_id) == (
        "pastores",
        "investigator",
        casebook.screening_number,
    )
    assert json.loads(record.new_value)["binding_hash"] == sig.binding_hash


def test_wrong_password_is_refused_and_the_attempt_audited(pi, casebook) -> None:  # type: ignore[no-untyped-def]
    from iliad7.store.actions import sign_record
    from iliad7.store.models import AuditRecord, Signature

    with pytest.raises(ReauthenticationFailed) as refused:
        sign_record(pi, casebook, "I approve this casebook", "not-my-password", _token(pi))
    assert refused.value.field == "credentials"  # never which of the two secrets was wrong
    assert not Signature.objects.exists()
    attempt = AuditRecord.objects.get(action="signature.refused")
    assert json.loads(attempt.new_value)["failed"] == "credentials"


def test_wrong_second_factor_is_refused(pi, casebook) -> None:  # type: ignore[no-untyped-def]
    from iliad7.store.actions import sign_record
    from iliad7.store.models import Signature

    wrong = f"{(int(_token(pi)) + 1) % 1_000_000:06d}"
    with pytest.raises(ReauthenticationFailed) as refused:
        sign_record(pi, casebook, "I approve this casebook", PASSWORD, wrong)
    assert refused.value.field == "credentials"
    assert not Signature.objects.exists()


def test_signer_without_an_enrolled_second_factor_cannot_sign(make_user, casebook) -> None:  # type: ignore[no-untyped-def]
    from iliad7.store.actions import sign_record

    other = make_user("vdbrink", ["investigator"], ["MSKCC"])
    with pytest.raises(ReauthenticationFailed) as refused:
        sign_record(other, casebook, "I approve this casebook", PASSWORD, "123456")
    assert refused.value.field == "credentials"


def test_a_used_code_cannot_sign_twice(pi, casebook) -> None:  # type: ignore[no-untyped-def]
    from iliad7.store.actions import sign_record

    token = _token(pi)
    sign_record(pi, casebook, "I approve this casebook", PASSWORD, token)
    with pytest.raises(ReauthenticationFailed):
        sign_record(pi, casebook, "I approve this casebook", PASSWORD, token)


def test_signature_needs_a_meaning(pi, casebook) -> None:  # type: ignore[no-untyped-def]
    from iliad7.store.actions import sign_record

    with pytest.raises(InputError) as bad:
        sign_record(pi, casebook, "  ", PASSWORD, _token(pi))
    assert bad.value.field == "meaning"


def test_changing_the_record_after_signing_breaks_the_signature(pi, casebook) -> None:  # type: ignore[no-untyped-def]
    from iliad7.store.actions import record_item_value, sign_record, verify_signature

    sig = sign_record(pi, casebook, "I approve this casebook", PASSWORD, _token(pi))
    record_item_value(
        casebook,
        form="LB",
        item="LYMPH",
        visit="D1",
        value="460",
        unit="cells/uL",
        acting_user=pi,
        channel="web",
        reason="digits swapped",
    )
    check = verify_signature(sig)
    assert not check.ok and "changed since it was signed" in check.reason


def test_signature_copied_onto_another_record_fails_verification(pi, casebook) -> None:  # type: ignore[no-untyped-def]
    from iliad7.store.actions import create_participant, sign_record, verify_signature
    from iliad7.store.models import Signature

    other = create_participant(site="MSKCC", acting_user=pi, channel="web")
    sig = sign_record(pi, casebook, "I approve this casebook", PASSWORD, _token(pi))
    # Forge a copy pointing at the other participant, directly in the database.
    with connection.cursor() as cursor:
        for statement in drop_statements(connection.vendor):
            cursor.execute(statement)
        cursor.execute(
            "UPDATE store_signature SET target_id = %s WHERE id = %s",
            [other.screening_number, sig.pk],
        )
    copied = Signature.objects.get(pk=sig.pk)
    check = verify_signature(copied)
    assert not check.ok and "binding" in check.reason


def test_signature_of_one_item_value_is_bound_to_that_version(pi, casebook) -> None:  # type: ignore[no-untyped-def]
    from iliad7.store.actions import sign_record, verify_signature
    from iliad7.store.models import ItemValue

    value = ItemValue.objects.get(participant=casebook)
    sig = sign_record(pi, value, "I reviewed this value", PASSWORD, _token(pi), channel="api")
    assert (sig.target_type, sig.target_id) == ("item_value", str(value.pk))
    assert verify_signature(sig).ok


def test_signatures_cannot_be_altered_in_the_database(pi, casebook) -> None:  # type: ignore[no-untyped-def]
    from django.db import DatabaseError, transaction

    from iliad7.store.actions import sign_record

    sign_record(pi, casebook, "I approve this casebook", PASSWORD, _token(pi))
    with (
        pytest.raises(DatabaseError, match="append-only"),
        transaction.atomic(),
        connection.cursor() as cursor,
    ):
        cursor.execute("UPDATE store_signature SET meaning = 'I reject'")
