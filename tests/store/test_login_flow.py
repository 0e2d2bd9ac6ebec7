"""Signing in: CSRF-protected password step, then TOTP for the roles that need it."""

from __future__ import annotations

import json
import time

import pytest
from django.test import Client

pytestmark = pytest.mark.django_db

PASSWORD = "correct-horse-battery-staple"  # as make_user in conftest sets it


def _token(user, offset_steps: int = 0) -> str:  # type: ignore[no-untyped-def]
    from django_otp.oath import TOTP
    from django_otp.plugins.otp_totp.models import TOTPDevice

    device = TOTPDevice.objects.get(user=user)
    totp = TOTP(device.bin_key, device.step, device.t0, device.digits, device.drift)
    totp.time = time.time() + offset_steps * device.step
    return f"{totp.token():0{device.digits}d}"


def _sign_in(client: Client, username: str, password: str, address: str = "192.0.2.10"):  # type: ignore[no-untyped-def]
    page = client.get("/accounts/login/")
    assert page.status_code == 200
    token = page.cookies["csrftoken"].value
    return client.post(
        "/accounts/login/",
        {"username": username, "password": password, "csrfmiddlewaretoken": token},
        REMOTE_ADDR=address,
    )


def _csrf(client: Client) -> str:
    return client.cookies["csrftoken"].value


def test_coordinator_signs_in_with_password_only(make_user) -> None:  # type: ignore[no-untyped-def]
    make_user("ann", ["coordinator"], ["MSKCC"])
    client = Client(enforce_csrf_checks=True)
    response = _sign_in(client, "ann", PASSWORD)
    assert response.status_code == 302 and response["Location"] == "/dashboard/"  # a coordinator's landing page
    me = json.loads(client.get("/accounts/me").content)
    assert me == {
        "username": "ann",
        "roles": ["coordinator"],
        "sites": ["MSKCC"],
        "second_factor_verified": False,
    }


@pytest.mark.parametrize(
    ("role", "site_codes", "lands_on"),
    [("monitor", ["MSKCC"], "/dashboard/"), ("blinded-statistician", [], "/"), ("sponsor-viewer", [], "/")],
)
def test_each_role_lands_on_its_starting_page_unless_a_page_was_asked_for(  # type: ignore[no-untyped-def]
    make_user, role, site_codes, lands_on
) -> None:
    make_user("bo", [role], site_codes)
    client = Client(enforce_csrf_checks=True)
    assert _sign_in(client, "bo", PASSWORD)["Location"] == lands_on
    client = Client(enforce_csrf_checks=True)
    page = client.get("/accounts/login/?next=/queries/")
    asked = client.post(
        "/accounts/login/?next=/queries/",
        {"username": "bo", "password": PASSWORD, "csrfmiddlewaretoken": page.cookies["csrftoken"].value},
        REMOTE_ADDR="192.0.2.10",
    )
    assert asked["Location"] == "/queries/"  # the page asked for wins over the landing page


def test_login_without_the_csrf_token_is_refused(make_user) -> None:  # type: ignore[no-untyped-def]
    make_user("ann", ["coordinator"], ["MSKCC"])
    client = Client(enforce_csrf_checks=True)
    response = client.post("/accounts/login/", {"username": "ann", "password": PASSWORD})
    assert response.status_code == 403
    assert "_auth_user_id" not in client.session


def test_unknown_user_and_wrong_password_get_the_same_answer(make_user) -> None:  # type: ignore[no-untyped-def]
    make_user("ann", ["coordinator"], ["MSKCC"])
    wrong = _sign_in(Client(enforce_csrf_checks=True), "ann", "not-the-password")
    unknown = _sign_in(Client(enforce_csrf_checks=True), "nobody", "not-the-password")
    assert wrong.status_code == unknown.status_code == 200

    def page(body: bytes, typed: str) -> str:
        # The same page, apart from the CSRF token and the name the person typed.
        text = body.decode().replace(f'value="{typed}"', 'value="TYPED"')
        return "\n".join(line for line in text.splitlines() if "csrf" not in line)

    assert page(wrong.content, "ann") == page(unknown.content, "nobody")


def test_a_locked_pair_refuses_the_right_password_from_that_address_only(make_user) -> None:  # type: ignore[no-untyped-def]
    from iliad7.store.models import AuditRecord

    make_user("ann", ["coordinator"], ["MSKCC"])
    attacker = "198.51.100.7"
    for attempt in range(5):  # five wrong passwords for ann, all from one address
        _sign_in(Client(enforce_csrf_checks=True), "ann", f"wrong-{attempt}", attacker)
    client = Client(enforce_csrf_checks=True)
    response = _sign_in(client, "ann", PASSWORD, attacker)
    assert response.status_code == 429  # from there, even the right password waits
    assert "_auth_user_id" not in client.session
    assert AuditRecord.objects.filter(action="auth.lockout", object_id="ann").exists()
    # Ann at her own desk is not locked out by someone else's guesses.
    assert _sign_in(Client(enforce_csrf_checks=True), "ann", PASSWORD, "192.0.2.10").status_code == 302
    # Another user behind the attacker's address is not locked out either.
    make_user("bea", ["coordinator"], ["MSKCC"])
    assert _sign_in(Client(enforce_csrf_checks=True), "bea", PASSWORD, attacker).status_code == 302


def test_failures_spread_over_addresses_lock_no_one(make_user) -> None:  # type: ignore[no-untyped-def]
    make_user("ann", ["coordinator"], ["MSKCC"])
    for attempt in range(5):  # one guess from each of five addresses
        _sign_in(Client(enforce_csrf_checks=True), "ann", f"wrong-{attempt}", f"198.51.100.{attempt}")
    assert _sign_in(Client(enforce_csrf_checks=True), "ann", PASSWORD, "198.51.100.4").status_code == 302


@pytest.fixture
def pharmacist(make_user):  # type: ignore[no-untyped-def]
    from iliad7.store.actions import add_totp_device

    user = make_user("rx", ["unblinded-pharmacist"], ["MSKCC"])
    add_totp_device(user, acting_user=None, channel="cli")
    return user


def test_unblinded_pharmacist_reaches_nothing_before_the_second_factor(pharmacist) -> None:  # type: ignore[no-untyped-def]
    client = Client(enforce_csrf_checks=True)
    response = _sign_in(client, "rx", PASSWORD)
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/second-factor/?next=")
    blocked = client.get("/accounts/me")
    assert blocked.status_code == 302 and blocked["Location"].startswith("/accounts/second-factor/")
    api = client.get("/api/participants")
    assert api.status_code == 403
    assert json.loads(api.content) == {"detail": "second factor required"}
    assert client.get("/health").status_code == 200


def test_wrong_code_is_refused_and_audited_then_the_right_code_opens_the_session(
    pharmacist,  # type: ignore[no-untyped-def]
) -> None:
    from iliad7.store.models import AuditRecord

    client = Client(enforce_csrf_checks=True)
    _sign_in(client, "rx", PASSWORD)
    right = _token(pharmacist)
    wrong = f"{(int(right) + 1) % 1_000_000:06d}"
    refused = client.post("/accounts/second-factor/", {"otp_token": wrong, "csrfmiddlewaretoken": _csrf(client)})
    assert refused.status_code == 400
    assert AuditRecord.objects.filter(action="auth.second_factor_failed").count() == 1
    # No pause after one wrong code: the device's own throttle is off (failures count per user and source).
    passed = client.post(
        "/accounts/second-factor/",
        {"otp_token": right, "csrfmiddlewaretoken": _csrf(client), "next": "/accounts/me"},
    )
    assert passed.status_code == 302 and passed["Location"] == "/accounts/me"
    me = json.loads(client.get("/accounts/me").content)
    assert me["second_factor_verified"] is True and me["roles"] == ["unblinded-pharmacist"]
    assert AuditRecord.objects.filter(action="auth.second_factor_passed").count() == 1


def test_second_factor_page_redirects_only_within_the_site(pharmacist) -> None:  # type: ignore[no-untyped-def]
    client = Client(enforce_csrf_checks=True)
    _sign_in(client, "rx", PASSWORD)
    passed = client.post(
        "/accounts/second-factor/",
        {
            "otp_token": _token(pharmacist),
            "csrfmiddlewaretoken": _csrf(client),
            "next": "https://evil.example/",
        },
    )
    assert passed.status_code == 302 and passed["Location"] == "/"


def test_session_ends_when_idle_without_a_write_per_request(make_user) -> None:  # type: ignore[no-untyped-def]
    from datetime import timedelta

    from django.contrib.sessions.models import Session
    from django.utils import timezone

    from iliad7.web.idle import COOKIE, activity_token

    make_user("ann", ["coordinator"], ["MSKCC"])
    client = Client(enforce_csrf_checks=True)
    _sign_in(client, "ann", PASSWORD)
    key = client.session.session_key
    row = Session.objects.get(session_key=key)
    assert timedelta(hours=11) < row.expire_date - timezone.now() <= timedelta(hours=12)  # the longest a session lives
    assert client.get("/accounts/me").status_code == 200
    assert Session.objects.get(session_key=key).expire_date == row.expire_date  # a read writes nothing
    fresh = client.cookies[COOKIE]
    assert int(fresh["max-age"]) == 15 * 60 and fresh["httponly"]
    # Fourteen idle minutes: still signed in. Sixteen: signed out, though the session row is still valid.
    for minutes, status in ((14, 200), (16, 302)):
        with _frozen_signing_time(timezone.now() - timedelta(minutes=minutes)):
            client.cookies[COOKIE] = activity_token(key)
        assert Session.objects.filter(session_key=key).exists()
        response = client.get("/accounts/me")
        assert response.status_code == status, minutes
    assert response["Location"].startswith("/accounts/login/")
    assert client.get("/accounts/me").status_code == 302  # the session cookie was dropped
    # An activity cookie of another session, or none, is no activity.
    other = Client(enforce_csrf_checks=True)
    _sign_in(other, "ann", PASSWORD)
    other.cookies[COOKIE] = activity_token("someone-elses-session")
    assert other.get("/accounts/me").status_code == 302


def _frozen_signing_time(moment):  # type: ignore[no-untyped-def]
    from unittest import mock

    return mock.patch("django.core.signing.time.time", return_value=moment.timestamp())


def test_sign_out_ends_the_session_and_is_audited(make_user) -> None:  # type: ignore[no-untyped-def]
    from iliad7.store.models import AuditRecord

    make_user("ann", ["coordinator"], ["MSKCC"])
    client = Client(enforce_csrf_checks=True)
    _sign_in(client, "ann", PASSWORD)
    response = client.post("/accounts/logout/", {"csrfmiddlewaretoken": _csrf(client)})
    assert response.status_code == 302 and response["Location"] == "/accounts/login/"
    assert client.get("/accounts/me").status_code == 302
    assert AuditRecord.objects.filter(action="auth.logout", actor="ann").count() == 1
