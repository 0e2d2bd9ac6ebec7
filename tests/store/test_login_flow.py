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
    assert response.status_code == 302 and response["Location"] == "/"  # the web app's home page
    me = json.loads(client.get("/accounts/me").content)
    assert me == {
        "username": "ann",
        "roles": ["coordinator"],
        "sites": ["MSKCC"],
        "second_factor_verified": False,
    }


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


def test_locked_out_user_cannot_sign_in_with_the_right_password(make_user) -> None:  # type: ignore[no-untyped-def]
    from iliad7.store.models import AuditRecord

    make_user("ann", ["coordinator"], ["MSKCC"])
    for attempt in range(5):  # from five different addresses: the account is what locks
        _sign_in(Client(enforce_csrf_checks=True), "ann", f"wrong-{attempt}", f"198.51.100.{attempt}")
    client = Client(enforce_csrf_checks=True)
    response = _sign_in(client, "ann", PASSWORD)
    assert response.status_code != 302
    assert "_auth_user_id" not in client.session
    assert AuditRecord.objects.filter(action="auth.lockout", object_id="ann").exists()
    # Another user behind the same hospital address is not locked out.
    make_user("bea", ["coordinator"], ["MSKCC"])
    other = Client(enforce_csrf_checks=True)
    assert _sign_in(other, "bea", PASSWORD, "198.51.100.4").status_code == 302


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
    # Throttling after a failure: django-otp wants a pause; step past it in its clock.
    from django_otp.plugins.otp_totp.models import TOTPDevice

    TOTPDevice.objects.filter(user=pharmacist).update(throttling_failure_count=0)
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


def test_session_is_renewed_on_every_request_and_ends_when_idle(make_user) -> None:  # type: ignore[no-untyped-def]
    from datetime import timedelta

    from django.contrib.sessions.models import Session
    from django.utils import timezone

    make_user("ann", ["coordinator"], ["MSKCC"])
    client = Client(enforce_csrf_checks=True)
    _sign_in(client, "ann", PASSWORD)
    key = client.session.session_key
    Session.objects.filter(session_key=key).update(expire_date=timezone.now() + timedelta(seconds=5))
    assert client.get("/accounts/me").status_code == 200
    renewed = Session.objects.get(session_key=key).expire_date - timezone.now()
    assert timedelta(minutes=14) < renewed <= timedelta(minutes=15)
    # Fifteen idle minutes later the session is gone.
    Session.objects.filter(session_key=key).update(expire_date=timezone.now() - timedelta(seconds=1))
    response = client.get("/accounts/me")
    assert response.status_code == 302 and response["Location"].startswith("/accounts/login/")


def test_sign_out_ends_the_session_and_is_audited(make_user) -> None:  # type: ignore[no-untyped-def]
    from iliad7.store.models import AuditRecord

    make_user("ann", ["coordinator"], ["MSKCC"])
    client = Client(enforce_csrf_checks=True)
    _sign_in(client, "ann", PASSWORD)
    response = client.post("/accounts/logout/", {"csrfmiddlewaretoken": _csrf(client)})
    assert response.status_code == 302 and response["Location"] == "/accounts/login/"
    assert client.get("/accounts/me").status_code == 302
    assert AuditRecord.objects.filter(action="auth.logout", actor="ann").count() == 1
