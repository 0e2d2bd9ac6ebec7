"""The eCRF pages and API: every form's bad input is shown beside its field and kept; corrections need a reason;
a locked form refuses; derived values are shown with their inputs."""

from __future__ import annotations

import re
from html import unescape
from typing import Any

import pytest

from iliad7.protocol import load_protocol

pytestmark = pytest.mark.django_db

FORM_IDS = [f.id for f in load_protocol().forms]


def _field_html(page: str, item: str) -> str:
    """The HTML of one field's block on the form page."""
    match = re.search(rf'<div class="field[^"]*" id="field-{re.escape(item)}">(.*?)</div>', page, re.S)
    assert match, f"no field {item}"
    return match.group(1)


def _message(page: str, item: str) -> str:
    match = re.search(rf'<span id="msg-{re.escape(item)}" class="field-msg">(.*?)</span>', page, re.S)
    assert match, f"no message slot for {item}"
    return unescape(match.group(1)).strip()


def _form_url(sn: str, form_id: str, visit: str = "", instance: int = 1) -> str:
    return f"/participants/{sn}/forms/{form_id}/?visit={visit}&instance={instance}"


def _post(client: Any, url: str, data: dict[str, str]) -> Any:
    return client.post(url, {**data, "csrfmiddlewaretoken": client.cookies["csrftoken"].value})


def test_form_ids_cover_the_protocol() -> None:
    assert set(FORM_IDS) >= {
        "VITALS", "CLINICAL-STATUS", "SOFA", "LAB", "VIRAL-LOAD", "STUDY-DRUG", "HOSPITAL-STAY", "ORGAN-SUPPORT",
        "SECONDARY-INFECTION", "ADVERSE-EVENT", "DEATH", "END-OF-STUDY",
    }  # fmt: skip


@pytest.mark.parametrize("form_id", FORM_IDS)
def test_bad_input_in_every_form_shows_a_message_beside_the_field_and_keeps_the_typed_text(
    form_id: str, staff: Any, trial: Any, login: Any, capture_values: Any
) -> None:
    from iliad7.store.models import ItemValue

    participant = trial["randomized@MDACC"]
    form = load_protocol().form(form_id)
    visit, values = capture_values.valid_values(form_id, "MDACC")
    item, wrong = capture_values.wrong_value(form)
    values[item] = wrong
    client = login(staff["coordinator@MDACC"])
    page = client.get(_form_url(participant.screening_number, form_id, visit))
    assert page.status_code == 200
    response = _post(client, _form_url(participant.screening_number, form_id, visit), {**values, "visit": visit})
    assert response.status_code == 400, response.content[:300]
    body = response.content.decode()
    message = _message(body, item)
    assert message.startswith(f"“{wrong}") and "is not accepted" in message, message
    block = _field_html(body, item)
    assert 'aria-invalid="true"' in block
    assert f'value="{wrong}"' in block  # the typed text is still in the input (or selected in the list)
    # Every other field keeps what was typed, too.
    for other, text in values.items():
        if other != item and "." not in other:
            assert f'value="{text}"' in _field_html(body, other), (other, text)
    assert "Nothing was stored" in body
    assert not ItemValue.objects.filter(participant=participant, form=form_id).exists()


@pytest.mark.parametrize("form_id", FORM_IDS)
def test_every_form_saves_valid_values_through_the_api(
    form_id: str, staff: Any, trial: Any, login: Any, api_post: Any, capture_values: Any
) -> None:
    participant = trial["randomized@MDACC"]
    visit, values = capture_values.valid_values(form_id, "MDACC")
    typed = {k: (v + "+00:00" if k.endswith("_at") and "T" in v else v) for k, v in values.items()}
    client = login(staff["coordinator@MDACC"])
    url = f"/api/participants/{participant.screening_number}/forms/{form_id}?visit={visit}"
    saved = api_post(client, url, {"values": typed})
    assert saved.status_code == 201, saved.content[:500]
    body = saved.json()
    assert set(body["values"]) == {k for k in values if "." not in k}
    shown = client.get(url).json()
    assert shown["values"].keys() == body["values"].keys()


def test_bad_input_through_the_api_names_each_field_and_echoes_the_text(
    staff: Any, trial: Any, login: Any, api_post: Any
) -> None:
    participant = trial["randomized@MDACC"]
    client = login(staff["coordinator@MDACC"])
    url = f"/api/participants/{participant.screening_number}/forms/VITALS"
    response = api_post(client, url, {"values": {"respiratory_rate": "fast", "spo2": "130"}})
    assert response.status_code == 400
    body = response.json()
    assert body["field"] in {d["field"] for d in body["detail"]}
    by_field = {d["field"]: d for d in body["detail"]}
    assert by_field["respiratory_rate"]["input"] == "fast" and by_field["respiratory_rate"]["kind"] == "type"
    assert by_field["spo2"]["kind"] == "range"
    assert by_field["assessed_at"]["kind"] == "required"
    unknown = api_post(client, f"/api/participants/{participant.screening_number}/forms/NOPE", {"values": {}})
    assert unknown.status_code == 404


def test_lab_form_shows_units_ranges_and_the_ctcae_grade_with_its_inputs(
    staff: Any, trial: Any, login: Any, capture_values: Any
) -> None:
    participant = trial["randomized@MDACC"]
    client = login(staff["coordinator@MDACC"])
    visit, values = capture_values.valid_values("LAB", "MDACC")
    url = _form_url(participant.screening_number, "LAB", visit)
    page = client.get(url).content.decode()
    alc = _field_html(page, "alc")
    for unit in ("cells/mm3", "10^9/L", "x10^9/L"):
        assert f'<option value="{unit}"' in alc  # several accepted units: a list to choose from
    assert "possible 0 to 500000 cells/mm3" in alc and "usual 0 to 20000 cells/mm3" in alc
    assert "ng/mL" in _field_html(page, "ferritin")  # one unit: shown, not chosen
    assert 'type="datetime-local"' in _field_html(page, "collected_at")
    saved = _post(client, url, {**values, "visit": visit})
    assert saved.status_code == 302, saved.content[:500]
    page = client.get(url).content.decode()
    derived = page.split('id="derived-h"', 1)[1]
    assert "ctcae_lymphocyte_count_decreased" in derived and "<strong>2</strong>" in derived
    assert "650" in derived  # the input it came from


def test_vitals_form_shows_news2_with_its_inputs(staff: Any, trial: Any, login: Any, capture_values: Any) -> None:
    participant = trial["randomized@MDACC"]
    client = login(staff["coordinator@MDACC"])
    visit, values = capture_values.valid_values("VITALS", "MDACC")
    url = _form_url(participant.screening_number, "VITALS", visit)
    assert _post(client, url, {**values, "visit": visit}).status_code == 302
    derived = client.get(url).content.decode().split('id="derived-h"', 1)[1]
    assert "news2" in derived and "respiratory_rate: 22" in derived


def test_a_correction_needs_a_reason_on_the_page_and_in_the_api(
    staff: Any, trial: Any, login: Any, api_post: Any, capture_values: Any
) -> None:
    from iliad7.store.models import ItemValue

    participant = trial["randomized@MDACC"]
    client = login(staff["coordinator@MDACC"])
    visit, values = capture_values.valid_values("LAB", "MDACC")
    url = _form_url(participant.screening_number, "LAB", visit)
    assert _post(client, url, {**values, "visit": visit}).status_code == 302
    page = client.get(url).content.decode()
    assert "Reason for change (required to correct a saved value)" in page
    changed = {**values, "alc": "560", "visit": visit}
    refused = _post(client, url, changed)
    assert refused.status_code == 400
    body = refused.content.decode()
    assert "needs a reason for change" in _message(body, "reason")
    assert 'value="560"' in _field_html(body, "alc")
    api_url = f"/api/participants/{participant.screening_number}/forms/LAB?visit={visit}"
    typed = {**values, "collected_at": values["collected_at"] + "+00:00", "alc": "560"}
    api_refused = api_post(client, api_url, {"values": typed})
    assert api_refused.status_code == 400 and api_refused.json()["field"] == "reason"
    assert _post(client, url, {**changed, "reason": "Transcription error"}).status_code == 302
    versions = ItemValue.objects.filter(participant=participant, form="LAB", item="alc").order_by("version")
    assert [(v.value, v.reason) for v in versions] == [("650", ""), ("560", "Transcription error")]


def test_a_locked_form_refuses_changes_until_unlocked(
    staff: Any, trial: Any, login: Any, api_post: Any, capture_values: Any
) -> None:
    participant = trial["randomized@MDACC"]
    sn = participant.screening_number
    coordinator = login(staff["coordinator@MDACC"])
    visit, values = capture_values.valid_values("LAB", "MDACC")
    url = _form_url(sn, "LAB", visit)
    assert _post(coordinator, url, {**values, "visit": visit}).status_code == 302
    manager = login(staff["data-manager"])
    locked = _post(manager, f"/participants/{sn}/forms/LAB/lock", {"visit": visit, "lock": "yes", "reason": "Clean"})
    assert locked.status_code == 302
    page = coordinator.get(url).content.decode()
    assert "This form is locked" in page and "Save LAB" not in page
    refused = _post(coordinator, url, {**values, "alc": "560", "reason": "late fix", "visit": visit})
    assert refused.status_code == 409 and "is locked" in refused.content.decode()
    api_url = f"/api/participants/{sn}/forms/LAB?visit={visit}"
    typed = {**values, "collected_at": values["collected_at"] + "+00:00", "alc": "560"}
    assert api_post(coordinator, api_url, {"values": typed, "reason": "late fix"}).status_code == 409
    # Site staff cannot lock; the data manager unlocks with a reason through the API.
    assert (
        _post(
            coordinator, f"/participants/{sn}/forms/LAB/lock", {"visit": visit, "lock": "no", "reason": "x"}
        ).status_code
        == 403
    )
    unlock = api_post(
        manager, f"/api/participants/{sn}/forms/LAB/lock", {"locked": False, "reason": "Query", "visit": visit}
    )
    assert unlock.status_code == 200 and unlock.json()["locked"] is False
    assert api_post(coordinator, api_url, {"values": typed, "reason": "late fix"}).status_code == 201


def test_sdv_toggle_for_monitors_only(staff: Any, trial: Any, login: Any, api_post: Any, capture_values: Any) -> None:
    participant = trial["randomized@MDACC"]
    sn = participant.screening_number
    visit, values = capture_values.valid_values("LAB", "MDACC")
    assert (
        _post(login(staff["coordinator@MDACC"]), _form_url(sn, "LAB", visit), {**values, "visit": visit}).status_code
        == 302
    )
    monitor = login(staff["monitor@MDACC"])
    page = monitor.get(_form_url(sn, "LAB", visit)).content.decode()
    assert "Mark source data verified" in page
    assert _post(monitor, f"/participants/{sn}/forms/LAB/sdv", {"visit": visit, "verified": "yes"}).status_code == 302
    assert "source data verified" in monitor.get(_form_url(sn, "LAB", visit)).content.decode()
    cleared = api_post(monitor, f"/api/participants/{sn}/forms/LAB/sdv", {"verified": False, "visit": visit})
    assert cleared.status_code == 200 and cleared.json()["source_verified"] is False
    other_site = login(staff["monitor@MSKCC"])
    assert (
        api_post(other_site, f"/api/participants/{sn}/forms/LAB/sdv", {"verified": True, "visit": visit}).status_code
        == 404
    )
    assert other_site.get(_form_url(sn, "LAB", visit)).status_code == 404


def test_calendar_page_shows_visits_windows_statuses_and_the_dose_plan(staff: Any, trial: Any, login: Any) -> None:
    participant = trial["randomized@MSKCC"]  # dose 1 given minutes ago
    page = login(staff["coordinator@MSKCC"]).get(f"/participants/{participant.screening_number}/calendar/")
    assert page.status_code == 200
    body = page.content.decode()
    for text in ("Day 0", "Dose plan", "D45", "day 0", "status-given", "status-upcoming", "status-done"):
        assert text in body, text
    assert "New ADVERSE-EVENT" in body
    api = login(staff["coordinator@MSKCC"]).get(f"/api/participants/{participant.screening_number}/calendar")
    assert api.status_code == 200 and api.json()["visits"] and api.json()["dose1_given"] is True
    assert [d["status"] for d in api.json()["doses"]][:2] == ["given", "upcoming"]


def test_edit_checks_fire_on_entry_beside_each_field_without_saving(staff: Any, trial: Any, login: Any) -> None:
    from iliad7.store.models import ItemValue

    participant = trial["randomized@MDACC"]
    client = login(staff["coordinator@MDACC"])
    url = f"/participants/{participant.screening_number}/forms/VITALS/check"
    response = client.post(
        url,
        {"respiratory_rate": "fast", "spo2": "93", "on_supplemental_oxygen": "true", "visit": ""},
        HTTP_HX_REQUEST="true",
        HTTP_X_CSRFTOKEN=client.cookies["csrftoken"].value,
    )
    assert response.status_code == 200
    body = unescape(response.content.decode())
    assert re.search(r'id="msg-respiratory_rate"[^>]*hx-swap-oob="true">“fast” is not accepted', body)
    assert "Give the oxygen flow" not in body  # a field not typed in yet gets no message
    assert re.search(r'id="msg-pulse"[^>]*hx-swap-oob="true"></span>', body)  # required, but not typed yet
    assert "1 field needs attention" in body
    assert not ItemValue.objects.filter(participant=participant).exists()
    monitor = login(staff["monitor@MDACC"])
    assert monitor.post(url, {"visit": ""}, HTTP_X_CSRFTOKEN=monitor.cookies["csrftoken"].value).status_code == 403


def test_calendar_after_death_shows_later_visits_and_doses_not_applicable(
    staff: Any, trial: Any, login: Any, capture_values: Any
) -> None:
    participant = trial["randomized@MSKCC"]  # dose 1 given minutes ago
    client = login(staff["coordinator@MSKCC"])
    _, death = capture_values.valid_values("DEATH")
    assert (
        _post(client, f"/participants/{participant.screening_number}/forms/DEATH/?instance=1", death).status_code == 302
    )
    body = client.get(f"/participants/{participant.screening_number}/calendar/").content.decode()
    assert "Died" in body
    doses = body.split('id="doses-h"', 1)[1]
    assert doses.count("status-not_applicable") == 6  # doses 2 to 7
    visits = body.split('id="visits-h"', 1)[1].split('id="doses-h"', 1)[0]
    assert "status-not_applicable" in visits and "status-upcoming" not in visits
