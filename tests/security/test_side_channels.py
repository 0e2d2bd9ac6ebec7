"""Issue 22, played as an attacker would: each test is one attack and what the trial answers now.

- the e-signature as a password oracle; lockouts anyone could cause; a password holder wearing
  out the user's TOTP device;
- screening numbers as free text (path segments, NUL, bidirectional overrides, case twins);
- numbers no column or Decimal context can hold (an instance of 2**63, a weight of 1e999999999);
- answers kept by caches, session ids kept across the second factor, the OpenAPI document for
  anyone, the infection adjudicator reading lab values, `--as` from another system account.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from django.test import Client

pytestmark = pytest.mark.django_db

PASSWORD = "correct-horse-battery-staple"
ATTACKER = "203.0.113.66"
DESK = "192.0.2.10"


def _post(client: Client, path: str, body: Any, address: str = DESK) -> Any:
    return client.post(
        path,
        data=json.dumps(body),
        content_type="application/json",
        HTTP_X_CSRFTOKEN=client.cookies["csrftoken"].value,
        REMOTE_ADDR=address,
    )


def _sign_in(client: Client, username: str, password: str, address: str) -> Any:
    token = client.get("/accounts/login/").cookies["csrftoken"].value
    return client.post(
        "/accounts/login/",
        {"username": username, "password": password, "csrfmiddlewaretoken": token},
        REMOTE_ADDR=address,
    )


def _signable(participant: Any, staff: dict[str, Any], capture_values: Any) -> None:
    """Close the participant's follow-up (END-OF-STUDY) so that the casebook can be signed."""
    from iliad7.store import actions

    site = participant.site.code
    _, eos = capture_values.valid_values("END-OF-STUDY", site)
    actions.save_form(participant, "END-OF-STUDY", eos, acting_user=staff[f"coordinator@{site}"], channel="web")
    assert actions.casebook_problems(participant) == []


def _age_failures(seconds: int) -> None:
    """Move every recorded failure `seconds` into the past (instead of waiting: no timed tests)."""
    from axes.models import AccessAttempt
    from django.db.models import F

    AccessAttempt.objects.update(attempt_time=F("attempt_time") - timedelta(seconds=seconds))


# ---------------------------------------------------------------- e-signature


def test_the_signature_is_no_password_oracle_and_locks_the_guessing_address_only(
    staff, trial, login, totp, capture_values
) -> None:  # type: ignore[no-untyped-def]
    from iliad7.store.actions import add_totp_device
    from iliad7.store.models import AuditRecord, SecurityNotice, Signature

    participant = trial["randomized@MDACC"]
    _signable(participant, staff, capture_values)
    investigator = staff["investigator@MDACC"]
    add_totp_device(investigator, acting_user=None, channel="system")
    path = f"/api/participants/{participant.screening_number}/casebook/signature"
    thief = login(investigator)  # a session left open on a ward computer
    wrong_password = _post(thief, path, {"password": "guess-1", "otp_token": totp(investigator)}, ATTACKER)
    wrong_code = _post(thief, path, {"password": PASSWORD, "otp_token": "000000"}, ATTACKER)
    # One answer whichever secret was wrong: nothing to learn about the password.
    assert wrong_password.status_code == wrong_code.status_code == 403
    assert wrong_password.json() == wrong_code.json()
    assert wrong_password.json()["field"] == "credentials"
    answers = [_post(thief, path, {"password": f"guess-{i}", "otp_token": "123456"}, ATTACKER) for i in range(10)]
    statuses = [a.status_code for a in answers]
    assert statuses[:2] == [403, 403] and set(statuses[2:]) == {429}  # the 5th failure locks
    assert all("Retry-After" in a for a in answers[2:])
    # From that address even the right secrets wait; the investigator at their desk signs at once.
    assert _post(thief, path, {"password": PASSWORD, "otp_token": totp(investigator)}, ATTACKER).status_code == 429
    assert not Signature.objects.exists()
    signed = _post(login(investigator), path, {"password": PASSWORD, "otp_token": totp(investigator)}, DESK)
    assert signed.status_code == 201, signed.content
    lockout = AuditRecord.objects.get(action="auth.lockout", object_id=investigator.username)
    assert json.loads(lockout.new_value)["gate"] == "signature"
    assert json.loads(lockout.new_value)["ip"] == ATTACKER
    # The investigator and the administrators are told (a notice on their home page).
    assert SecurityNotice.objects.filter(user=investigator).count() == 1
    assert SecurityNotice.objects.filter(user__isnull=True, about=investigator.username).count() == 1
    assert ATTACKER in login(investigator).get("/").content.decode()
    assert ATTACKER in login(staff["administrator"]).get("/").content.decode()


# ---------------------------------------------------------------- lockout per (user, source)


def test_anyone_guessing_a_user_name_locks_only_their_own_address_with_growing_delays(staff) -> None:  # type: ignore[no-untyped-def]
    from iliad7.store import throttle
    from iliad7.store.models import SecurityNotice

    victim = staff["coordinator@MSKCC"].username
    for i in range(5):
        _sign_in(Client(enforce_csrf_checks=True), victim, f"wrong-{i}", ATTACKER)
    locked = _sign_in(Client(enforce_csrf_checks=True), victim, PASSWORD, ATTACKER)
    assert locked.status_code == 429 and "try again in 1 minute" in locked.content.decode()
    # The victim, from the hospital, is not held up at all.
    assert _sign_in(Client(enforce_csrf_checks=True), victim, PASSWORD, DESK).status_code == 302
    # Progressive: once the minute has passed, each further failure doubles the wait (2, 4, ... minutes).
    waits = []
    for _ in range(3):
        _age_failures(int(throttle.delay(99).total_seconds()))  # the longest delay has passed
        assert _sign_in(Client(enforce_csrf_checks=True), victim, "wrong-again", ATTACKER).status_code == 429
        request = Client().get("/health").wsgi_request
        request.META["REMOTE_ADDR"] = ATTACKER
        waits.append(throttle.retry_after(request, victim))
    assert [round(w / 60) for w in waits] == [2, 4, 8]
    # One notice per locked episode, not one per attempt.
    assert SecurityNotice.objects.filter(user=staff["coordinator@MSKCC"]).count() == 1


def test_a_password_holder_cannot_wear_out_the_users_second_factor(staff, totp) -> None:  # type: ignore[no-untyped-def]
    from django_otp.plugins.otp_totp.models import TOTPDevice

    from iliad7.store.models import AuditRecord

    pharmacist = staff["unblinded-pharmacist@MSKCC"]
    thief = Client(enforce_csrf_checks=True)
    assert _sign_in(thief, pharmacist.username, PASSWORD, ATTACKER).status_code == 302
    for code in range(100000, 100012):
        thief.post(
            "/accounts/second-factor/",
            {"otp_token": str(code), "csrfmiddlewaretoken": thief.cookies["csrftoken"].value},
            REMOTE_ADDR=ATTACKER,
        )
    refused = thief.post(
        "/accounts/second-factor/",
        {"otp_token": totp(pharmacist), "csrfmiddlewaretoken": thief.cookies["csrftoken"].value},
        REMOTE_ADDR=ATTACKER,
    )
    assert refused.status_code == 429  # the guessing address waits, even with the right code
    assert TOTPDevice.objects.get(user=pharmacist).verify_is_allowed() == (True, None)  # the device is not throttled
    # The pharmacist, elsewhere, signs in with the current code straight away.
    user = Client(enforce_csrf_checks=True)
    assert _sign_in(user, pharmacist.username, PASSWORD, DESK).status_code == 302
    passed = user.post(
        "/accounts/second-factor/",
        {"otp_token": totp(pharmacist), "csrfmiddlewaretoken": user.cookies["csrftoken"].value, "next": "/"},
        REMOTE_ADDR=DESK,
    )
    assert passed.status_code == 302
    lockout = AuditRecord.objects.get(action="auth.lockout", object_id=pharmacist.username)
    assert json.loads(lockout.new_value)["gate"] == "second factor"


def test_a_correct_password_does_not_reset_the_second_factor_count(staff, totp) -> None:  # type: ignore[no-untyped-def]
    pharmacist = staff["unblinded-pharmacist@MSKCC"]
    for _ in range(3):  # sign in again before each pair of guesses: the count goes on
        thief = Client(enforce_csrf_checks=True)
        assert _sign_in(thief, pharmacist.username, PASSWORD, ATTACKER).status_code == 302
        for code in ("111111", "222222"):
            last = thief.post(
                "/accounts/second-factor/",
                {"otp_token": code, "csrfmiddlewaretoken": thief.cookies["csrftoken"].value},
                REMOTE_ADDR=ATTACKER,
            )
    assert last.status_code == 429


def test_the_session_id_changes_when_the_second_factor_is_given(staff, totp) -> None:  # type: ignore[no-untyped-def]
    from django.contrib.sessions.backends.db import SessionStore

    pharmacist = staff["unblinded-pharmacist@MSKCC"]
    client = Client(enforce_csrf_checks=True)
    assert _sign_in(client, pharmacist.username, PASSWORD, DESK).status_code == 302
    after_password = client.cookies["sessionid"].value
    passed = client.post(
        "/accounts/second-factor/",
        {"otp_token": totp(pharmacist), "csrfmiddlewaretoken": client.cookies["csrftoken"].value, "next": "/"},
    )
    assert passed.status_code == 302
    assert client.cookies["sessionid"].value != after_password
    assert not SessionStore().exists(after_password)  # the id seen before the second factor opens nothing
    observer = Client()
    observer.cookies["sessionid"] = after_password
    assert observer.get("/api/participants").status_code == 401


# ---------------------------------------------------------------- caches and the OpenAPI document


def test_patient_data_is_never_cached_and_static_files_are(staff, trial, login) -> None:  # type: ignore[no-untyped-def]
    client = login(staff["coordinator@MSKCC"])
    sn = trial["randomized@MSKCC"].screening_number
    for url in ("/", "/participants/", f"/participants/{sn}/", f"/api/participants/{sn}", "/api/participants",
                f"/participants/{sn}/casebook/", "/accounts/login/"):  # fmt: skip
        assert "no-store" in client.get(url)["Cache-Control"], url
    assert "no-store" in Client().get(f"/api/participants/{sn}")["Cache-Control"]  # errors too
    static = client.get("/static/iliad7/iliad7.css")
    assert static["Cache-Control"] == "max-age=3600"


def test_the_openapi_document_is_for_signed_in_users(staff, login) -> None:  # type: ignore[no-untyped-def]
    assert Client().get("/api/openapi.json").status_code == 401
    assert Client().get("/api/docs").status_code == 401
    assert login(staff["coordinator@MSKCC"]).get("/api/openapi.json").status_code == 200


# ---------------------------------------------------------------- screening numbers


@pytest.mark.parametrize(
    "number",
    [
        "M" * 300,
        "../../etc",
        "MSKCC-S\x00001",
        "MSKCC-S\u202e100",
        "MSKCC-S００１",  # fullwidth digits
        "MDACC-S001",  # another site's number
        "MSKCC-S1",
        "MSKCC S001",
        "mskcc-s\u0131001",  # dotless i upper-cases to an ASCII I
    ],
)
def test_a_screening_number_off_the_pattern_is_refused_by_name(number, staff, trial, login) -> None:  # type: ignore[no-untyped-def]
    from iliad7.store.models import Participant

    client = login(staff["coordinator@MSKCC"])
    before = Participant.objects.count()
    answer = _post(client, "/api/participants", {"site": "MSKCC", "screening_number": number})
    assert answer.status_code in (400, 422), (number, answer.status_code)
    assert answer.json()["field"] == "screening_number"
    assert Participant.objects.count() == before


def test_a_screening_number_is_upper_cased_and_unique_in_any_case(staff, trial, login) -> None:  # type: ignore[no-untyped-def]
    client = login(staff["coordinator@MSKCC"])
    made = _post(client, "/api/participants", {"site": "MSKCC", "screening_number": "mskcc-s0901"})
    assert made.status_code == 201 and made.json()["screening_number"] == "MSKCC-S0901"
    twin = _post(client, "/api/participants", {"site": "MSKCC", "screening_number": "MSKCC-S0901"})
    assert twin.status_code == 400 and twin.json()["field"] == "screening_number"
    assert client.get("/api/participants/mskcc-s0901").json()["screening_number"] == "MSKCC-S0901"


def test_an_odd_number_stored_before_the_rule_breaks_no_page(staff, trial, login) -> None:  # type: ignore[no-untyped-def]
    from iliad7.store.models import Participant, Site

    odd = Participant.objects.create(
        screening_number="../../etc", site=Site.objects.get(code="MSKCC"), status="screened",
        created_at=trial["new@MSKCC"].created_at,
    )  # fmt: skip
    client = login(staff["coordinator@MSKCC"])
    listing = client.get("/participants/")
    assert listing.status_code == 200
    link = "/participants/..%252F..%252Fetc/"
    assert link in listing.content.decode()
    assert client.get(link).status_code == 200  # the link reaches the participant, nowhere else
    assert client.get(link).context["participant"].pk == odd.pk
    for path in ("/api/participants/%00", "/participants/%00/", "/participants/?q=%00"):
        assert client.get(path).status_code == 404, path  # NUL matches nothing (and PostgreSQL is not asked)
    refused = client.get("/api/screening-log?site=%00")  # an API query parameter is input: named, as documented
    assert (refused.status_code, refused.json()["field"]) == (422, "site")


def test_the_fhir_proposal_file_stays_in_imports_fhir_whatever_the_number(staff, trial, tmp_path, settings) -> None:  # type: ignore[no-untyped-def]
    from iliad7.standards.fhir import import_fhir, imports_folder
    from iliad7.store.models import Participant, Site

    settings.ILIAD7_HOME = tmp_path / "home"
    Participant.objects.create(
        screening_number="../../etc", site=Site.objects.get(code="MSKCC"), status="screened",
        created_at=trial["new@MSKCC"].created_at,
    )  # fmt: skip
    bundle = tmp_path / "bundle.json"
    bundle.write_text(json.dumps({"resourceType": "Bundle", "type": "collection", "entry": []}))
    result = import_fhir(staff["coordinator@MSKCC"], bundle, "../../etc")
    written = Path(result["proposal_file"]).resolve()
    assert written.parent == imports_folder().resolve()
    assert json.loads(written.read_text())["participant"] == "../../etc"
    assert sorted(p.name for p in (tmp_path / "home").rglob("*") if p.is_file()) == [written.name]


# ---------------------------------------------------------------- numbers no column can hold


def test_huge_numbers_are_field_errors_not_server_errors(staff, trial, login) -> None:  # type: ignore[no-untyped-def]
    from iliad7.store.models import DataQuery, ItemValue, ScreeningVersion

    sn = trial["randomized@MSKCC"].screening_number
    monitor = login(staff["monitor@MSKCC"])
    monitor.raise_request_exception = False
    query = _post(monitor, f"/api/participants/{sn}/queries", {"form": "LAB", "item": "alc", "instance": 2**63,
                                                                 "text": "source?"})  # fmt: skip
    assert query.status_code == 422 and query.json()["field"] == "instance"
    coordinator = login(staff["coordinator@MSKCC"])
    coordinator.raise_request_exception = False
    token = coordinator.cookies["csrftoken"].value
    before = (ItemValue.objects.count(), DataQuery.objects.count(), ScreeningVersion.objects.count())
    item = coordinator.post(f"/participants/{sn}/items/", {"form": "LAB", "item": "alc", "value": "5",
                                                          "instance": "1" * 23, "csrfmiddlewaretoken": token},
                            follow=True)  # fmt: skip
    assert item.status_code == 400 and "instance: give a whole number from 1 to" in item.content.decode()
    form = coordinator.get(f"/participants/{sn}/forms/LAB/?instance={'9' * 23}")
    assert form.status_code == 400
    superscript = coordinator.get(f"/participants/{sn}/forms/LAB/?instance=²")  # str.isdigit() says yes
    assert superscript.status_code == 400
    screened = trial["screened@MSKCC"].screening_number
    for path in (f"/participants/{screened}/screening/evaluate", f"/participants/{screened}/screening/"):
        answer = coordinator.post(path, {"weight_kg": "1e999999999", "csrfmiddlewaretoken": token})
        assert answer.status_code in (200, 400), (path, answer.status_code)
        assert "enter a number between" in answer.content.decode(), path
    assert (ItemValue.objects.count(), DataQuery.objects.count(), ScreeningVersion.objects.count()) == before


# ---------------------------------------------------------------- the infection adjudicator


def test_the_infection_adjudicator_reads_the_reported_infections_and_no_lab_value(staff, trial, login) -> None:  # type: ignore[no-untyped-def]
    from iliad7.store import actions
    from iliad7.store.actions.pharmacy import site_zone

    participant = trial["randomized@MSKCC"]
    actions.save_form(
        participant, "SECONDARY-INFECTION",
        {"onset_date": datetime.now(site_zone(participant.site)).date().isoformat(), "infection_site": "bloodstream",
         "organism_type": "bacterial", "organism": "Klebsiella pneumoniae", "culture_confirmed": "true"},
        instance=1, acting_user=staff["coordinator@MSKCC"], channel="web",
    )  # fmt: skip
    client = login(staff["infection-adjudicator"])
    sn = participant.screening_number
    for path in (f"/api/participants/{sn}/items", f"/api/participants/{sn}", f"/api/participants/{sn}/forms/LAB",
                 f"/participants/{sn}/", f"/participants/{sn}/forms/LAB/", f"/participants/{sn}/calendar/"):  # fmt: skip
        assert client.get(path).status_code == 404, path
    assert client.get("/api/participants").json() == []
    infections = client.get("/api/infections").json()
    assert [i["reported"]["organism"] for i in infections] == ["Klebsiella pneumoniae"]
    decided = _post(client, f"/api/participants/{sn}/infections/1/adjudication",
                    {"decision": "confirmed", "rationale": "positive blood culture"})  # fmt: skip
    assert decided.status_code == 201, decided.content


# ---------------------------------------------------------------- `--as` from another system account


def test_only_the_installations_operator_acts_as_a_user_from_the_command_line(staff, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    import os

    from django.conf import settings
    from typer.testing import CliRunner

    from iliad7.cli import app
    from iliad7.store.models import AuditRecord

    owner = Path(settings.ILIAD7_HOME).stat().st_uid
    operator = CliRunner().invoke(app, ["participant", "list", "--as", staff["coordinator@MSKCC"].username, "--json"])
    assert operator.exit_code == 0, operator.output
    record = AuditRecord.objects.filter(action="cli.operator").order_by("-id").first()
    assert record is not None and record.actor == staff["coordinator@MSKCC"].username and record.channel == "cli"
    detail = json.loads(record.new_value)
    assert detail["uid"] == owner and detail["command"].endswith("participant list")
    before = AuditRecord.objects.count()
    monkeypatch.setattr(os, "geteuid", lambda: owner + 4242)  # another account of the same machine
    other = CliRunner().invoke(app, ["participant", "list", "--as", staff["investigator@MSKCC"].username, "--json"])
    assert other.exit_code == 1 and "only the operator" in other.stderr
    assert other.stdout == "" and AuditRecord.objects.count() == before
