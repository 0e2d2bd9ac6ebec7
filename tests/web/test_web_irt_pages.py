"""Consent, randomization, emergency unblinding and the pharmacy through the pages (channel `web`)."""

from __future__ import annotations

import re

import pytest

pytestmark = pytest.mark.django_db


def _ago(hours: int) -> str:
    """A UTC time `hours` ago, as a datetime-local input sends it (consent cannot be in the future)."""
    from datetime import UTC, datetime, timedelta

    return (datetime.now(UTC) - timedelta(hours=hours)).strftime("%Y-%m-%dT%H:%M")


def _post(client, url, data):  # type: ignore[no-untyped-def]
    return client.post(url, {**data, "csrfmiddlewaretoken": client.cookies["csrftoken"].value})


def test_consent_form_records_consent_and_keeps_bad_input(staff, trial, login) -> None:  # type: ignore[no-untyped-def]
    from iliad7.store.models import Consent

    client = login(staff["coordinator@MSKCC"])
    participant = trial["screened@MSKCC"]
    url = f"/participants/{participant.screening_number}/consent/"
    emergency_at = _ago(hours=30)
    page = client.get(url).content.decode()
    assert '<label for="c-fv">Consent form version</label>' in page
    bad = _post(
        client,
        url,
        {
            "consent_type": "written",
            "given_by": "participant",
            "obtained_at": "yesterday",
            "form_version": "v1.0",
            "obtained_by": "Dr A",
        },
    )
    assert bad.status_code == 400
    body = bad.content.decode()
    assert re.search(r'id="c-at-msg" class="field-msg">[^<]*YYYY-MM-DD', body)
    assert 'value="yesterday"' in body and 'value="v1.0"' in body
    good = _post(
        client,
        url,
        {
            "consent_type": "emergency_oral",
            "given_by": "legally_authorized_representative",
            "obtained_at": emergency_at,
            "form_version": "v1.0",
            "obtained_by": "Dr A",
        },
    )
    assert good.status_code == 302
    consent = Consent.objects.get(participant=participant)
    assert consent.channel == "web" and consent.obtained_at.strftime("%Y-%m-%dT%H:%M") == emergency_at
    home = client.get("/").content.decode()
    assert "Open re-consent tasks" in home and participant.screening_number in home
    reconsent = _post(
        client,
        url,
        {
            "consent_type": "written",
            "given_by": "participant",
            "obtained_at": _ago(hours=2),
            "form_version": "v1.0",
            "obtained_by": "Dr A",
        },
    )
    assert reconsent.status_code == 302
    assert "Open re-consent tasks" not in client.get("/").content.decode()


def test_randomize_needs_the_investigators_explicit_confirmation(staff, trial, login) -> None:  # type: ignore[no-untyped-def]
    participant = trial["consented@MSKCC"]
    url = f"/participants/{participant.screening_number}/randomize/"
    client = login(staff["investigator@MSKCC"])
    page = client.get(url).content.decode()
    assert 'type="checkbox" id="confirm" name="confirm"' in page and "verdict-eligible" in page
    unconfirmed = _post(client, url, {})
    assert unconfirmed.status_code == 400 and "Tick the confirmation" in unconfirmed.content.decode()
    participant.refresh_from_db()
    assert participant.usubjid is None
    done = _post(client, url, {"confirm": "yes"})
    assert done.status_code == 200
    participant.refresh_from_db()
    body = done.content.decode()
    assert participant.usubjid and participant.usubjid in body
    assert "Randomization number" in body and "Kit (syringe label) code" in body
    assert "placebo" not in body.lower()
    assert login(staff["coordinator@MSKCC"]).get(url).status_code == 403


def test_emergency_unblinding_shows_the_arm_once_and_is_audited(staff, trial, login, totp) -> None:  # type: ignore[no-untyped-def]
    from iliad7.store.access import access_allocation
    from iliad7.store.actions import add_totp_device
    from iliad7.store.models import AuditRecord

    investigator = staff["investigator@MDACC"]
    add_totp_device(investigator, acting_user=None, channel="system")
    participant = trial["randomized@MDACC"]
    url = f"/participants/{participant.screening_number}/unblind/"
    client = login(investigator)
    page = client.get(url).content.decode()
    assert '<label for="u-reason">Reason</label>' in page and 'autocomplete="one-time-code"' in page
    wrong = _post(client, url, {"reason": "suspected anaphylaxis", "otp_token": "000000"})
    assert wrong.status_code == 400 and "suspected anaphylaxis" in wrong.content.decode()
    assert not AuditRecord.objects.filter(action="unblinding", object_id=participant.screening_number).exists()
    from django_otp.plugins.otp_totp.models import TOTPDevice

    TOTPDevice.objects.get(user=investigator).throttle_reset()  # django-otp slows retries after a failure
    revealed = _post(client, url, {"reason": "suspected anaphylaxis", "otp_token": totp(investigator)})
    assert revealed.status_code == 200
    arm = access_allocation(investigator, participant)
    assert f'<p class="revealed">{arm}</p>' in revealed.content.decode()
    record = AuditRecord.objects.get(action="unblinding", object_id=participant.screening_number)
    assert record.channel == "web" and record.reason == "suspected anaphylaxis" and arm not in record.new_value
    # The participant's page still shows no arm; the sponsor sees the event, not the arm.
    assert arm.encode() not in client.get(f"/participants/{participant.screening_number}/").content
    events = login(staff["sponsor-viewer"]).get("/unblinding-events/").content.decode()
    assert participant.screening_number in events and "suspected anaphylaxis" in events


def test_pharmacist_prepares_a_dose_and_sees_accountability(staff, trial, login) -> None:  # type: ignore[no-untyped-def]
    from iliad7.store.models import AuditRecord

    participant = trial["randomized@MSKCC"]
    url = f"/participants/{participant.screening_number}/pharmacy/"
    client = login(staff["unblinded-pharmacist@MSKCC"])
    page = client.get(url).content.decode()
    assert 'name="weight_kg" value="70"' in page and "LOT-1" in page and "everything reconciles" in page
    bad = _post(
        client, url, {"dose_number": "two", "weight_kg": "70", "concentration_ug_per_ml": "200", "lot": "LOT-1"}
    )
    assert bad.status_code == 400 and 'value="two"' in bad.content.decode()
    done = _post(client, url, {"dose_number": "2", "weight_kg": "70", "concentration_ug_per_ml": "200", "lot": "LOT-1"})
    assert done.status_code == 302
    assert AuditRecord.objects.filter(action="dose.prepare", channel="web").exists()
    worksheet = client.get(url).content.decode()
    assert "-D2" in worksheet and "700" in worksheet and "3.50" in worksheet


def test_pharmacy_stock_receives_wastes_and_reconciles(staff, trial, login) -> None:  # type: ignore[no-untyped-def]
    client = login(staff["unblinded-pharmacist@MSKCC"])
    assert "MSKCC pharmacy" in client.get("/").content.decode()
    url = "/pharmacy/MSKCC/"
    bad = _post(client, url, {"movement": "receipt", "lot": "LOT-2", "vials": "ten", "expiry": "2030-01-01"})
    assert bad.status_code == 400 and 'value="ten"' in bad.content.decode()
    assert (
        _post(client, url, {"movement": "receipt", "lot": "LOT-2", "vials": "10", "expiry": "2030-01-01"}).status_code
        == 302
    )
    no_reason = _post(client, url, {"movement": "wastage", "lot": "LOT-2", "vials": "1"})
    assert no_reason.status_code == 400 and re.search(
        r'id="m-reason-msg" class="field-msg">[^<]+<', no_reason.content.decode()
    )
    assert (
        _post(client, url, {"movement": "wastage", "lot": "LOT-2", "vials": "1", "reason": "vial broken"}).status_code
        == 302
    )
    page = client.get(url).content.decode()
    assert (
        '<th scope="row">LOT-2</th><td>2030-01-01</td><td>10</td><td>0</td><td>1</td><td>0</td><td>9</td><td>yes</td>'
        in page
    )
    assert "everything reconciles" in page
    assert client.get("/pharmacy/MDACC/").status_code == 404
    assert login(staff["coordinator@MSKCC"]).get(url).status_code == 404


def test_site_staff_record_a_dose_given_on_the_participant_page(staff, trial, login) -> None:  # type: ignore[no-untyped-def]
    from decimal import Decimal

    from iliad7.store.actions import prepare_dose
    from iliad7.store.models import DoseAdministration

    participant = trial["randomized@MDACC"]
    pharmacist = staff["unblinded-pharmacist@MDACC"]
    from datetime import date, timedelta

    from iliad7.store.actions import record_drug_receipt

    record_drug_receipt(
        site_code="MDACC",
        lot="L9",
        expiry=date.today() + timedelta(days=90),
        vials=5,
        acting_user=pharmacist,
        channel="system",
    )
    prepared = prepare_dose(
        participant,
        1,
        weight_kg=Decimal("70"),
        concentration_ug_per_ml=Decimal("200"),
        lot="L9",
        acting_user=pharmacist,
        channel="system",
    )
    client = login(staff["coordinator@MDACC"])
    url = f"/participants/{participant.screening_number}/doses/"
    data = {
        "dose_number": "1",
        "given_at": _ago(hours=1),
        "injection_site": "right deltoid",
        "volume_ml": str(prepared.volume_ml),
    }
    refused = _post(client, url, {**data, "volume_ml": "99"})
    assert refused.status_code == 400
    assert not DoseAdministration.objects.filter(participant=participant).exists()
    # The refusal is shown beside the volume, with what was typed kept (nothing to type again).
    shown = refused.content.decode()
    assert 'name="volume_ml" inputmode="decimal" size="6" required value="99"' in shown
    assert '<p class="msg-error">dose 1 refused: 99 mL is more than the syringe' in shown, shown[-3000:]
    assert f'value="{data["given_at"]}"' in shown
    assert _post(client, url, data).status_code == 302
    dose = DoseAdministration.objects.get(participant=participant)
    assert dose.channel == "web" and dose.injection_site == "right_deltoid"
    page = client.get(f"/participants/{participant.screening_number}/doses/").content.decode()
    assert "Right deltoid" in page
    calendar = client.get(f"/participants/{participant.screening_number}/calendar/").content.decode()
    assert "status-done" in calendar
    # The dose record filled the STUDY-DRUG form of its visit.
    form = client.get(f"/participants/{participant.screening_number}/forms/STUDY-DRUG/?visit=BASELINE").content.decode()
    assert 'value="right_deltoid" selected' in form and str(prepared.volume_ml) in form


def test_the_dose_form_offers_the_study_drug_choices(staff, trial, login) -> None:  # type: ignore[no-untyped-def]
    participant = trial["randomized@MDACC"]
    page = login(staff["coordinator@MDACC"]).get(f"/participants/{participant.screening_number}/doses/")
    page = page.content.decode()
    sites = re.search(r'<select id="d-site" name="injection_site" required[^>]*>(.*?)</select>', page, re.S)
    reactions = re.search(r'<select id="d-react" name="local_reaction"[^>]*>(.*?)</select>', page, re.S)
    assert sites and reactions
    assert re.findall(r'<option value="([^"]+)">', sites.group(1)) == [
        "left_deltoid", "right_deltoid", "left_thigh", "right_thigh", "other",
    ]  # fmt: skip
    assert re.findall(r'<option value="([^"]+)"', reactions.group(1)) == [
        "none", "erythema", "swelling", "pain", "induration", "other",
    ]  # fmt: skip
    assert '<option value="none" selected>' in reactions.group(1)


def test_a_dose_is_refused_by_field_through_the_api_and_study_drug_cannot_be_saved_as_given(  # type: ignore[no-untyped-def]
    staff, trial, login, api_post
) -> None:
    from datetime import UTC, datetime, timedelta

    from iliad7.store.models import DoseAdministration, ItemValue

    participant = trial["randomized@MDACC"]
    sn = participant.screening_number
    client = login(staff["coordinator@MDACC"])
    at = (datetime.now(UTC) - timedelta(minutes=30)).isoformat()
    dose = {"dose_number": 1, "given_at": at, "injection_site": "buttock", "volume_ml": "1.0"}
    refused = api_post(client, f"/api/participants/{sn}/doses", dose)
    assert refused.status_code == 400 and refused.json()["field"] == "injection_site"
    assert "left_deltoid" in refused.json()["detail"][0]["msg"]
    reaction = api_post(
        client, f"/api/participants/{sn}/doses", {**dose, "injection_site": "left_thigh", "local_reaction": "itchy"}
    )
    assert reaction.status_code == 400 and reaction.json()["field"] == "local_reaction"
    assert not DoseAdministration.objects.filter(participant=participant).exists()
    values = {"given": "true", "given_at": at, "volume_ml": "1.0", "injection_site": "left_thigh"}
    form = api_post(client, f"/api/participants/{sn}/forms/STUDY-DRUG?visit=BASELINE", {"values": values})
    assert form.status_code == 400 and form.json()["field"] == "given"
    assert "/doses" in form.json()["detail"][0]["msg"]
    single = api_post(
        client,
        f"/api/participants/{sn}/items",
        {"form": "STUDY-DRUG", "item": "given", "value": "true", "visit": "BASELINE"},
    )
    assert single.status_code == 400 and single.json()["field"] == "form"
    assert not ItemValue.objects.filter(participant=participant, form="STUDY-DRUG").exists()
    page = client.get(f"/participants/{sn}/forms/STUDY-DRUG/?visit=BASELINE").content.decode()
    assert 'id="dose-form-note"' in page


def test_the_value_form_on_the_participant_page_checks_against_the_protocol(staff, trial, login) -> None:  # type: ignore[no-untyped-def]
    from iliad7.store.models import ItemValue

    participant = trial["randomized@MDACC"]
    client = login(staff["coordinator@MDACC"])
    url = f"/participants/{participant.screening_number}/items/"
    good = {"form": "LAB", "item": "alc", "value": "650", "unit": "cells/uL", "visit": "DOSE3"}
    cases = (
        ("form", "vitals", "form: no form &#x27;vitals&#x27;"),
        ("item", "pulse", "item: pulse: form LAB has no item"),
        ("unit", "kg", "unit: alc.unit: unknown unit"),
        ("value", "-1", "value: alc: -1"),
        ("visit", "D1", "visit: form LAB is not filled at visit"),
    )
    for field, wrong, message in cases:
        answer = _post(client, url, {**good, field: wrong})
        assert answer.status_code == 400
        assert not ItemValue.objects.filter(participant=participant, form__in=("LAB", "vitals")).exists(), field
        shown = answer.content.decode()
        assert message in shown, (field, wrong, re.findall(r'class="messages".*?</div>', shown, re.S))
        # Beside its field, and what was typed is kept.
        assert re.search(rf'<span id="it-{field}-msg" class="field-msg">[^<]+</span>', shown), (field, shown[-3000:])
        assert f'value="{wrong}"' in shown, field
    assert _post(client, url, good).status_code == 302
    stored = ItemValue.objects.get(participant=participant, form="LAB", item="alc")
    assert (stored.value, stored.unit, stored.visit) == ("650", "cells/uL", "DOSE3")
