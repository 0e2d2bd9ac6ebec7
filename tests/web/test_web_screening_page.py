"""The screening page: form fields from the record's schema, live verdict, messages beside fields, save and resume."""

from __future__ import annotations

import re

import pytest

pytestmark = pytest.mark.django_db


def _form_data(record):  # type: ignore[no-untyped-def]
    from iliad7.web.screening_form import typed_from_record

    return typed_from_record(record)


def test_every_field_of_the_record_schema_is_in_exactly_one_group() -> None:
    from iliad7.eligibility import CRITERION_IDS
    from iliad7.eligibility.record import SCREENING_RECORD
    from iliad7.web.screening_form import GROUPS, form_groups

    names = [name for _, _, group in GROUPS for name in group]
    assert sorted(names) == sorted(SCREENING_RECORD.json_schema()["properties"])
    assert len(names) == len(set(names))
    # The groups follow the protocol's criteria, in protocol order.
    assert [g.key for g in form_groups()][1:] == list(CRITERION_IDS)


def test_the_spec_example_typed_into_the_form_is_eligible(example_record) -> None:  # type: ignore[no-untyped-def]
    from iliad7.web.screening_form import from_post

    state = from_post(_form_data(example_record))
    assert state.errors == {}
    assert state.screening is not None and state.screening.verdict == "eligible"


def test_live_verdict_fragment_for_the_spec_example_says_eligible(staff, trial, login, example_record) -> None:  # type: ignore[no-untyped-def]
    client = login(staff["coordinator@MSKCC"])
    sn = trial["new@MSKCC"].screening_number
    page = client.get(f"/participants/{sn}/screening/")
    assert page.status_code == 200
    body = page.content.decode()
    # The form is generated from the schema, with the protocol's criterion texts beside.
    assert f'hx-post="/participants/{sn}/screening/evaluate"' in body
    assert '<label for="f-clinical-frailty-scale">' in body
    assert "Patients with hospital admission Rockwood Clinical Frailty Scale" in body
    assert 'aria-live="polite"' in body
    fragment = client.post(
        f"/participants/{sn}/screening/evaluate",
        _form_data(example_record),
        HTTP_X_CSRFTOKEN=client.cookies["csrftoken"].value,
        HTTP_HX_REQUEST="true",
    )
    assert fragment.status_code == 200
    text = fragment.content.decode()
    assert re.search(r'class="verdict verdict-eligible">eligible<', text)
    # Each criterion's result and reason is swapped in beside its group.
    assert 'id="crit-EXC-FRAILTY" class="crit-result crit-pass" hx-swap-oob="true">pass:' in text
    assert "<html" not in text


def test_a_bad_value_gets_a_message_beside_its_field_and_keeps_what_was_typed(
    staff, trial, login, example_record
) -> None:  # type: ignore[no-untyped-def]
    client = login(staff["coordinator@MSKCC"])
    sn = trial["new@MSKCC"].screening_number
    data = _form_data(example_record)
    data["clinical_frailty_scale"] = "12"
    data["weight_kg"] = "seventy"
    token = client.cookies["csrftoken"].value
    fragment = client.post(f"/participants/{sn}/screening/evaluate", data, HTTP_X_CSRFTOKEN=token).content.decode()
    cfs = re.search(
        r'<span id="msg-f-clinical-frailty-scale" class="field-msg" hx-swap-oob="true">(.*?)</span>', fragment
    )
    assert cfs is not None and "“12”" in cfs.group(1) and "less than or equal to 9" in cfs.group(1)
    weight = re.search(r'<span id="msg-f-weight-kg" class="field-msg" hx-swap-oob="true">(.*?)</span>', fragment)
    assert weight is not None and "“seventy”" in weight.group(1) and "number" in weight.group(1)
    assert re.search(r'<span id="msg-f-height-cm" class="field-msg" hx-swap-oob="true"></span>', fragment)
    # The rest is still judged: the bad fields count as not recorded.
    assert "verdict-incomplete" in fragment
    # Saving the same form refuses, shows the messages and keeps the typed values in the inputs.
    page = client.post(f"/participants/{sn}/screening/", {**data, "csrfmiddlewaretoken": token})
    assert page.status_code == 400
    body = page.content.decode()
    assert re.search(
        r'id="f-clinical-frailty-scale" name="clinical_frailty_scale" value="12"[^>]*aria-invalid="true"', body
    )
    assert 'value="seventy"' in body
    from iliad7.store.models import ScreeningVersion

    assert not ScreeningVersion.objects.filter(participant=trial["new@MSKCC"]).exists()


def test_an_incomplete_record_is_saved_and_resumed(staff, trial, login, example_record) -> None:  # type: ignore[no-untyped-def]
    from iliad7.store.models import AuditRecord, ScreeningVersion

    client = login(staff["coordinator@MSKCC"])
    participant = trial["new@MSKCC"]
    sn = participant.screening_number
    data = _form_data(example_record)
    del data["weight_kg"]
    token = client.cookies["csrftoken"].value
    saved = client.post(f"/participants/{sn}/screening/", {**data, "csrfmiddlewaretoken": token})
    assert saved.status_code == 302
    version = ScreeningVersion.objects.get(participant=participant)
    assert version.verdict == "incomplete" and version.channel == "web" and "weight_kg" not in version.data
    assert AuditRecord.objects.filter(action="screening.save", channel="web").exists()
    resumed = client.get(f"/participants/{sn}/screening/").content.decode()
    assert 'name="height_cm" value="170"' in resumed and 'name="weight_kg" value=""' in resumed
    assert "Resumed from version 1" in resumed
    data["weight_kg"] = "70"
    client.post(f"/participants/{sn}/screening/", {**data, "reason": "weight measured", "csrfmiddlewaretoken": token})
    latest = ScreeningVersion.objects.filter(participant=participant).order_by("-version").first()
    assert latest is not None and latest.version == 2 and latest.verdict == "eligible"
    assert latest.reason == "weight measured"
    detail = client.get(f"/participants/{sn}/").content.decode()
    assert "verdict-eligible" in detail and "EXC-FRAILTY" in detail


def test_an_ineligible_record_can_be_recorded_as_a_screen_failure(staff, trial, login, example_record) -> None:  # type: ignore[no-untyped-def]
    client = login(staff["coordinator@MSKCC"])
    participant = trial["new@MSKCC"]
    sn = participant.screening_number
    data = _form_data(example_record)
    data["clinical_frailty_scale"] = "7"
    token = client.cookies["csrftoken"].value
    client.post(f"/participants/{sn}/screening/", {**data, "csrfmiddlewaretoken": token})
    page = client.get(f"/participants/{sn}/screening/").content.decode()
    assert "Record screen failure" in page and "EXC-FRAILTY" in page
    done = client.post(f"/participants/{sn}/screening/fail", {"reason": "", "csrfmiddlewaretoken": token})
    assert done.status_code == 302
    participant.refresh_from_db()
    assert participant.status == "screen_failed"


def test_only_site_staff_screen(staff, trial, login, example_record) -> None:  # type: ignore[no-untyped-def]
    client = login(staff["monitor@MSKCC"])
    sn = trial["new@MSKCC"].screening_number
    token = client.cookies["csrftoken"].value
    response = client.post(f"/participants/{sn}/screening/evaluate", _form_data(example_record), HTTP_X_CSRFTOKEN=token)
    assert response.status_code == 403


def test_the_evaluate_fragment_needs_the_csrf_token(staff, trial, login, example_record) -> None:  # type: ignore[no-untyped-def]
    client = login(staff["coordinator@MSKCC"])
    sn = trial["new@MSKCC"].screening_number
    assert client.post(f"/participants/{sn}/screening/evaluate", _form_data(example_record)).status_code == 403


def test_an_htmx_call_after_the_session_ended_sends_the_page_to_sign_in(trial) -> None:  # type: ignore[no-untyped-def]
    from django.test import Client

    sn = trial["new@MSKCC"].screening_number
    response = Client().post(
        f"/participants/{sn}/screening/evaluate",
        {},
        HTTP_HX_REQUEST="true",
        HTTP_HX_CURRENT_URL=f"http://127.0.0.1:8000/participants/{sn}/screening/",
    )
    assert response.status_code == 401
    assert response["HX-Redirect"] == f"/accounts/login/?next=/participants/{sn}/screening/"
