"""ASVS V2/V3: cookie flags, session fixation, lockout, no user enumeration, password policy, TOTP.

The settings under ILIAD7_HTTPS=1 are read in a fresh interpreter (settings are
read once, at start); the cookies those settings produce are checked in
answers of this process under the same values.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from django.test import Client, override_settings

pytestmark = pytest.mark.django_db

PASSWORD = "correct-horse-battery-staple"
HTTPS_SETTINGS = {
    "SESSION_COOKIE_SECURE": True,
    "CSRF_COOKIE_SECURE": True,
    "SECURE_SSL_REDIRECT": True,
    "SECURE_HSTS_SECONDS": 86400,
}


def _settings_with(env_extra: dict[str, str]) -> dict[str, object]:
    code = (
        "import json, os\n"
        "os.environ['DJANGO_SETTINGS_MODULE'] = 'iliad7.settings'\n"
        "from django.conf import settings\n"
        "names = ['SESSION_COOKIE_SECURE', 'CSRF_COOKIE_SECURE', 'SECURE_SSL_REDIRECT', 'SECURE_HSTS_SECONDS',\n"
        "         'SESSION_COOKIE_HTTPONLY', 'CSRF_COOKIE_HTTPONLY', 'SESSION_COOKIE_SAMESITE', 'DEBUG']\n"
        "print(json.dumps({n: getattr(settings, n) for n in names}))\n"
    )
    env = {k: v for k, v in os.environ.items() if k not in ("ILIAD7_HTTPS", "ILIAD7_DEBUG")} | env_extra
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60, check=True)
    return json.loads(done.stdout)  # type: ignore[no-any-return]


def test_https_flag_marks_cookies_secure_and_turns_on_hsts_and_redirect() -> None:
    on = _settings_with({"ILIAD7_HTTPS": "1"})
    assert {k: on[k] for k in HTTPS_SETTINGS} == HTTPS_SETTINGS
    assert on["SESSION_COOKIE_HTTPONLY"] is True and on["CSRF_COOKIE_HTTPONLY"] is True
    assert on["SESSION_COOKIE_SAMESITE"] == "Lax" and on["DEBUG"] is False
    off = _settings_with({})
    assert off["SESSION_COOKIE_SECURE"] is False and off["SECURE_HSTS_SECONDS"] == 0


@override_settings(**HTTPS_SETTINGS)
def test_under_https_the_session_cookie_is_secure_httponly_and_samesite(staff) -> None:  # type: ignore[no-untyped-def]
    client = Client(enforce_csrf_checks=True)
    assert client.get("/accounts/login/").status_code == 301  # plain HTTP is sent to HTTPS
    page = client.get("/accounts/login/", secure=True)
    assert page["Strict-Transport-Security"].startswith("max-age=86400")
    csrf_cookie = page.cookies["csrftoken"]
    assert csrf_cookie["secure"] and csrf_cookie["httponly"]
    response = client.post(
        "/accounts/login/",
        {
            "username": staff["coordinator@MSKCC"].username,
            "password": PASSWORD,
            "csrfmiddlewaretoken": csrf_cookie.value,
        },
        secure=True,
        HTTP_REFERER="https://testserver/accounts/login/",  # over HTTPS, Django also checks the Referer
    )
    assert response.status_code == 302
    session = response.cookies["sessionid"]
    assert session["secure"] and session["httponly"] and session["samesite"] == "Lax"


def test_the_session_key_changes_at_sign_in(staff) -> None:  # type: ignore[no-untyped-def]
    from django.contrib.sessions.backends.db import SessionStore

    planted = SessionStore()
    planted["planted"] = True
    planted.create()  # an attacker's session id, fixed in the victim's browser
    client = Client(enforce_csrf_checks=True)
    client.cookies["sessionid"] = planted.session_key
    token = client.get("/accounts/login/").cookies["csrftoken"].value
    response = client.post(
        "/accounts/login/",
        {"username": staff["coordinator@MSKCC"].username, "password": PASSWORD, "csrfmiddlewaretoken": token},
    )
    assert response.status_code == 302
    assert client.cookies["sessionid"].value != planted.session_key
    assert not SessionStore().exists(planted.session_key)  # the planted id signs nobody in
    thief = Client()
    thief.cookies["sessionid"] = planted.session_key
    assert thief.get("/api/participants").status_code == 401


def _sign_in(client: Client, username: str, password: str) -> object:
    token = client.get("/accounts/login/").cookies["csrftoken"].value
    return client.post("/accounts/login/", {"username": username, "password": password, "csrfmiddlewaretoken": token})


def _normalized(body: bytes, typed: str) -> str:
    text = body.decode().replace(f'value="{typed}"', 'value="TYPED"')
    return "\n".join(line for line in text.splitlines() if "csrf" not in line)


def test_lockout_after_five_failures_and_it_tells_nothing_about_the_account(staff) -> None:  # type: ignore[no-untyped-def]
    real = staff["coordinator@MDACC"].username
    answers = {}
    for name in (real, "no-such-user"):
        client_answers = [_sign_in(Client(enforce_csrf_checks=True), name, f"wrong-{i}") for i in range(5)]
        client_answers.append(_sign_in(Client(enforce_csrf_checks=True), name, PASSWORD if name == real else "x"))
        answers[name] = client_answers
    assert [a.status_code for a in answers[real]] == [a.status_code for a in answers["no-such-user"]]
    assert [a.status_code for a in answers[real]][:4] == [200] * 4
    locked_real, locked_unknown = answers[real][-1], answers["no-such-user"][-1]
    assert locked_real.status_code == 429  # the right password no longer works
    assert _normalized(locked_real.content, real) == _normalized(locked_unknown.content, "no-such-user")


def test_unknown_user_and_wrong_password_get_the_same_answer(staff) -> None:  # type: ignore[no-untyped-def]
    real = staff["investigator@MSKCC"].username
    wrong = _sign_in(Client(enforce_csrf_checks=True), real, "not-the-password")
    unknown = _sign_in(Client(enforce_csrf_checks=True), "nobody-here", "not-the-password")
    assert wrong.status_code == unknown.status_code == 200
    assert _normalized(wrong.content, real) == _normalized(unknown.content, "nobody-here")


@pytest.mark.parametrize(
    "password",
    ["short1A!", "password123456", "123456789012345", "coordinator-mskcc", ""],
)
def test_weak_passwords_are_refused_and_no_account_is_made(password: str, sites) -> None:  # type: ignore[no-untyped-def]
    from iliad7.errors import InputError
    from iliad7.store.actions import add_user
    from iliad7.store.models import User

    with pytest.raises(InputError) as refused:
        add_user(
            "coordinator-mskcc",
            password=password,
            roles=["coordinator"],
            sites=["MSKCC"],
            full_name="Coordinator Mskcc",
            acting_user=None,
            channel="system",
        )
    assert refused.value.field == "password"
    assert not User.objects.filter(username="coordinator-mskcc").exists()


def test_password_validators_are_configured() -> None:
    from django.conf import settings

    names = {v["NAME"].rsplit(".", 1)[1]: v.get("OPTIONS", {}) for v in settings.AUTH_PASSWORD_VALIDATORS}
    assert set(names) >= {
        "UserAttributeSimilarityValidator",
        "MinimumLengthValidator",
        "CommonPasswordValidator",
        "NumericPasswordValidator",
    }
    assert names["MinimumLengthValidator"]["min_length"] >= 12


def test_every_role_that_needs_totp_reaches_nothing_before_it(staff) -> None:  # type: ignore[no-untyped-def]
    from iliad7.accounts.roles import ROLES, needs_totp

    unblinded = {name for name, spec in ROLES.items() if spec.unblinded}
    assert unblinded and all(needs_totp([r]) for r in unblinded)  # every unblinded role needs the second factor
    for key, user in staff.items():
        role = key.split("@")[0]
        if not needs_totp([role]):
            continue
        client = Client(enforce_csrf_checks=True)
        response = _sign_in(client, user.username, PASSWORD)
        assert response.status_code == 302 and "/accounts/second-factor/" in response["Location"], key
        assert client.get("/api/participants").status_code == 403, key
        assert client.get("/participants/").status_code == 302, key
        assert client.get("/api/openapi.json").status_code == 403, key


def test_a_signature_needs_the_password_and_a_current_totp_code(staff, trial, totp) -> None:  # type: ignore[no-untyped-def]
    from iliad7.errors import ReauthenticationFailed
    from iliad7.store.actions import add_totp_device
    from iliad7.store.actions.signatures import sign_record
    from iliad7.store.models import Signature

    investigator = staff["investigator@MDACC"]
    participant = trial["randomized@MDACC"]
    with pytest.raises(ReauthenticationFailed):  # no authenticator enrolled: no signature at all
        sign_record(investigator, participant, "I approve this casebook", PASSWORD, "000000")
    add_totp_device(investigator, acting_user=None, channel="system")
    with pytest.raises(ReauthenticationFailed) as wrong_password:
        sign_record(investigator, participant, "I approve this casebook", "wrong", totp(investigator))
    assert not Signature.objects.exists()
    sign_record(investigator, participant, "I approve this casebook", PASSWORD, totp(investigator))
    assert Signature.objects.count() == 1
    with pytest.raises(ReauthenticationFailed) as wrong_code:
        sign_record(investigator, participant, "I approve this casebook", PASSWORD, "000000")
    # One answer for either secret: the refusal never says which one was wrong.
    assert wrong_code.value.field == wrong_password.value.field == "credentials"
    assert str(wrong_code.value) == str(wrong_password.value)
    assert Signature.objects.count() == 1
