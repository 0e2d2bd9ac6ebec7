"""The JSON API: session auth with CSRF, typed answers, errors that name the field, channel `api`."""

from __future__ import annotations

import copy
import json

import pytest
from django.test import Client

pytestmark = pytest.mark.django_db


def test_unsafe_methods_need_the_csrf_token(staff, login) -> None:  # type: ignore[no-untyped-def]
    client = login(staff["coordinator@MSKCC"])
    response = client.post("/api/participants", data=json.dumps({"site": "MSKCC"}), content_type="application/json")
    assert response.status_code == 403


def test_without_a_session_the_api_answers_401(sites) -> None:  # type: ignore[no-untyped-def]
    response = Client().get("/api/participants")
    assert response.status_code == 401 and "detail" in response.json()


def test_sites_and_participants(staff, trial, login, api_post) -> None:  # type: ignore[no-untyped-def]
    from iliad7.store.models import AuditRecord

    client = login(staff["coordinator@MSKCC"])
    assert client.get("/api/sites").json() == [
        {"code": "MSKCC", "name": "Memorial Sloan Kettering Cancer Center"},
        {"code": "MDACC", "name": "MD Anderson Cancer Center"},
    ]
    created = api_post(client, "/api/participants", {"site": "MSKCC"})
    assert created.status_code == 201
    body = created.json()
    assert body["site"] == "MSKCC" and body["status"] == "screened" and body["usubjid"] is None
    record = AuditRecord.objects.get(action="participant.create", object_id=body["screening_number"])
    assert record.channel == "api"
    detail = client.get(f"/api/participants/{trial['randomized@MSKCC'].screening_number}").json()
    assert detail["status"] in ("randomized", "on_treatment")
    assert detail["screening"]["verdict"] == "eligible"
    assert detail["randomization"]["kit_code"] and detail["consents"][0]["consent_type"] == "written"
    refused = api_post(client, "/api/participants", {"site": "MDACC"})
    assert refused.status_code == 403


def test_evaluate_gives_the_pure_verdict(staff, login, api_post, example_record) -> None:  # type: ignore[no-untyped-def]
    client = login(staff["monitor@MSKCC"])
    response = api_post(client, "/api/screening/evaluate", example_record)
    assert response.status_code == 200
    verdict = response.json()
    assert verdict["verdict"] == "eligible" and len(verdict["criteria"]) == 24
    assert verdict["criteria"][0] == {
        "id": "INC-CONSENT",
        "status": "pass",
        "reason": verdict["criteria"][0]["reason"],
        "missing": [],
    }


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"clinical_frailty_scale": 12}, "clinical_frailty_scale"),
        ({"weight_kg": "70"}, "weight_kg"),
        ({"alc": [{"time": "2021-01-09T06:00:00+00:00", "value": -1, "unit": "cells/uL"}]}, "alc.0.value"),
        ({"birth_date": "2030-01-01"}, "birth_date"),
        ({"unknown_field": True}, "unknown_field"),
        ({"sex": "robot"}, "sex"),
    ],
)
def test_evaluate_names_the_bad_field_with_422(staff, login, api_post, example_record, change, field) -> None:  # type: ignore[no-untyped-def]
    client = login(staff["coordinator@MSKCC"])
    record = copy.deepcopy(example_record)
    record.update(change)
    response = api_post(client, "/api/screening/evaluate", record)
    assert response.status_code == 422, response.content
    body = response.json()
    assert body["field"] == field and isinstance(body["detail"], list) and body["detail"]


@pytest.mark.parametrize("raw", [b"", b"{", b"[1, 2]", b'"text"', b"null", b"1e999"])
def test_evaluate_never_fails_on_malformed_json(staff, login, raw) -> None:  # type: ignore[no-untyped-def]
    client = login(staff["coordinator@MSKCC"])
    response = client.post(
        "/api/screening/evaluate",
        data=raw,
        content_type="application/json",
        HTTP_X_CSRFTOKEN=client.cookies["csrftoken"].value,
    )
    assert response.status_code == 422 and response.json()["field"] == "body"


def test_screening_consent_and_randomization_through_the_api(staff, trial, login, api_post, example_record) -> None:  # type: ignore[no-untyped-def]
    from iliad7.store.models import AuditRecord

    coordinator = login(staff["coordinator@MSKCC"])
    sn = trial["new@MSKCC"].screening_number
    partial = {k: v for k, v in example_record.items() if k != "weight_kg"}
    saved = api_post(coordinator, f"/api/participants/{sn}/screening", partial)
    assert saved.status_code == 201 and saved.json()["verdict"]["verdict"] == "incomplete"
    assert saved.json()["version"] == 1
    bad = api_post(coordinator, f"/api/participants/{sn}/screening", {**example_record, "sofa": 30})
    assert bad.status_code == 422 and bad.json()["field"] == "sofa"
    completed = api_post(coordinator, f"/api/participants/{sn}/screening?reason=weight+measured", example_record)
    assert completed.json()["verdict"]["verdict"] == "eligible" and completed.json()["reason"] == "weight measured"
    assert coordinator.get(f"/api/participants/{sn}/screening").json()["version"] == 2
    consent = {
        "consent_type": "written",
        "given_by": "participant",
        "obtained_at": "2026-11-25T10:00:00+00:00",
        "form_version": "v1.0",
        "obtained_by": "Dr Consenter",
    }
    missing_zone = api_post(
        coordinator, f"/api/participants/{sn}/consent", {**consent, "obtained_at": "2026-11-25T10:00"}
    )
    assert missing_zone.status_code == 422 and missing_zone.json()["field"] == "obtained_at"
    assert api_post(coordinator, f"/api/participants/{sn}/consent", consent).status_code == 201
    # A coordinator may not randomize; the investigator must confirm.
    assert api_post(coordinator, f"/api/participants/{sn}/randomize", {"confirmation": True}).status_code == 403
    investigator = login(staff["investigator@MSKCC"])
    unconfirmed = api_post(investigator, f"/api/participants/{sn}/randomize", {"confirmation": False})
    assert unconfirmed.status_code == 409 and "confirm" in unconfirmed.json()["detail"]
    result = api_post(investigator, f"/api/participants/{sn}/randomize", {"confirmation": True})
    assert result.status_code == 200
    assert set(result.json()) == {"usubjid", "randomization_number", "kit_code"}
    again = api_post(investigator, f"/api/participants/{sn}/randomize", {"confirmation": True})
    assert again.status_code == 409 and "already randomized" in again.json()["detail"]
    channels = set(
        AuditRecord.objects.filter(object_id__startswith=sn)
        .exclude(action="participant.create")
        .values_list("channel", flat=True)
    )
    assert channels == {"api"}


def test_an_ineligible_participant_is_refused_with_the_reason(staff, trial, login, api_post, example_record) -> None:  # type: ignore[no-untyped-def]
    coordinator = login(staff["coordinator@MSKCC"])
    sn = trial["new@MSKCC"].screening_number
    api_post(coordinator, f"/api/participants/{sn}/screening", {**example_record, "clinical_frailty_scale": 7})
    api_post(
        coordinator,
        f"/api/participants/{sn}/consent",
        {
            "consent_type": "emergency_oral",
            "given_by": "legally_authorized_representative",
            "obtained_at": "2026-11-25T10:00:00+00:00",
            "form_version": "v1.0",
            "obtained_by": "Dr Consenter",
        },
    )
    tasks = coordinator.get("/api/reconsent-tasks").json()
    assert [t["screening_number"] for t in tasks] == [sn]
    investigator = login(staff["investigator@MSKCC"])
    refused = api_post(investigator, f"/api/participants/{sn}/randomize", {"confirmation": True})
    assert refused.status_code == 409 and "ineligible" in refused.json()["detail"]


def test_items_are_recorded_and_corrected_with_their_history(staff, trial, login, api_post) -> None:  # type: ignore[no-untyped-def]
    client = login(staff["coordinator@MSKCC"])
    sn = trial["randomized@MSKCC"].screening_number
    first = api_post(
        client, f"/api/participants/{sn}/items", {"form": "VITALS", "item": "pulse", "value": "88", "unit": "/min"}
    )
    assert first.status_code == 201
    no_reason = api_post(
        client, f"/api/participants/{sn}/items", {"form": "VITALS", "item": "pulse", "value": "90", "unit": "/min"}
    )
    assert no_reason.status_code == 400 and no_reason.json()["field"] == "reason"
    corrected = api_post(
        client,
        f"/api/participants/{sn}/items",
        {"form": "VITALS", "item": "pulse", "value": "90", "unit": "/min", "reason": "transcription error"},
    )
    assert corrected.status_code == 201
    item = corrected.json()
    assert item["value"] == "90" and [v["version"] for v in item["versions"]] == [1, 2]
    assert item["versions"][1]["reason"] == "transcription error" and item["versions"][1]["channel"] == "api"
    listed = client.get(f"/api/participants/{sn}/items").json()
    # The trial also has LAB and AE forms; NEWS2 is derived from the VITALS form on every save, one value too.
    assert [i["item"] for i in listed if i["form"] == "VITALS"] == ["news2", "pulse"]
    wrong_type = api_post(
        client, f"/api/participants/{sn}/items", {"form": "VITALS", "item": "pulse", "value": 5, "instance": 0}
    )
    assert wrong_type.status_code == 422 and wrong_type.json()["field"] in ("value", "instance")
    page = client.get(f"/participants/{sn}/data/").content.decode()
    assert "transcription error" in page and "v1: 88" in page


def test_audit_verify_for_monitors_and_data_managers(staff, trial, login) -> None:  # type: ignore[no-untyped-def]
    for who, status in (
        ("data-manager", 200),
        ("monitor@MSKCC", 200),
        ("coordinator@MSKCC", 403),
        ("sponsor-viewer", 403),
    ):
        response = login(staff[who]).get("/api/audit/verify")
        assert response.status_code == status, who
        if status == 200:
            body = response.json()
            assert body["ok"] is True and body["first_broken"] is None and body["records"] > 10


def test_emergency_unblinding_needs_reason_and_code_and_is_listed(staff, trial, login, api_post) -> None:  # type: ignore[no-untyped-def]
    investigator = login(staff["investigator@MDACC"])
    sn = trial["randomized@MDACC"].screening_number
    no_device = api_post(investigator, f"/api/participants/{sn}/unblind", {"reason": "bleeding", "otp_token": "123456"})
    assert no_device.status_code == 403 and no_device.json()["field"] == "credentials"
    empty = api_post(investigator, f"/api/participants/{sn}/unblind", {"reason": "", "otp_token": "123456"})
    assert empty.status_code == 422 and empty.json()["field"] == "reason"
    events = login(staff["sponsor-viewer"]).get("/api/unblinding-events").json()
    assert [e["screening_number"] for e in events] == [trial["randomized@MSKCC"].screening_number]
    assert login(staff["coordinator@MSKCC"]).get("/api/unblinding-events").status_code == 403


def _next_code(user) -> str:  # type: ignore[no-untyped-def]
    """The TOTP code of the next 30-s step (accepted with the device's tolerance of one step): the
    investigator's current code was just used by the trial fixture's unblinding, and a code is used once."""
    import time

    from django_otp.oath import TOTP
    from django_otp.plugins.otp_totp.models import TOTPDevice

    device = TOTPDevice.objects.get(user=user)
    totp = TOTP(device.bin_key, device.step, device.t0, device.digits, device.drift)
    totp.time = time.time() + device.step
    return f"{totp.token():0{device.digits}d}"


def test_a_dose_is_corrected_through_the_api_with_a_reason_and_a_signature(  # type: ignore[no-untyped-def]
    staff, trial, login, api_post
) -> None:
    sn = trial["randomized@MSKCC"].screening_number
    url = f"/api/participants/{sn}/doses/1/correction"
    body = {"reason": "reaction seen at 2 h", "password": "correct-horse-battery-staple", "local_reaction": "erythema"}
    coordinator = login(staff["coordinator@MSKCC"])
    assert (
        api_post(coordinator, url, {**body, "otp_token": "123456"}).status_code == 403
    )  # signing is the investigator's
    investigator = login(staff["investigator@MSKCC"])
    assert api_post(investigator, url, {**body, "reason": "", "otp_token": "123456"}).status_code == 422
    wrong = api_post(investigator, url, {**body, "password": "not it", "otp_token": "123456"})
    # One undifferentiated refusal: the answer must not say which of password and code was wrong.
    assert wrong.status_code == 403 and wrong.json()["field"] == "credentials"
    done = api_post(investigator, url, {**body, "otp_token": _next_code(staff["investigator@MSKCC"])})
    assert done.status_code == 201, done.content
    assert done.json()["version"] == 2 and done.json()["local_reaction"] == "erythema"
    listed = investigator.get(f"/api/participants/{sn}/doses").json()
    assert [(d["dose_number"], d["version"], d["local_reaction"]) for d in listed] == [(1, 2, "erythema")]
