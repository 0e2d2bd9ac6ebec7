"""Logins, failed logins and lockouts land in the audit trail; the settings are Part 11-minded."""

from __future__ import annotations

import json

import pytest
from django.test import Client, RequestFactory

PASSWORD = "correct-horse-battery-staple"  # as make_user in conftest sets it


def _login(username: str, password: str) -> bool:
    """What the login view does: authenticate with the request, then log in."""
    from django.contrib.auth import authenticate, login
    from django.contrib.sessions.backends.db import SessionStore

    request = RequestFactory().post("/accounts/login/", REMOTE_ADDR="192.0.2.7")
    request.session = SessionStore()
    user = authenticate(request, username=username, password=password)
    if user is None:
        return False
    login(request, user)
    return True


@pytest.mark.django_db
def test_login_and_failed_login_are_audited_without_the_password(make_user) -> None:  # type: ignore[no-untyped-def]
    from iliad7.store.models import AuditRecord

    make_user("ann", ["coordinator"], ["MSKCC"])
    assert not _login("ann", "guess-one")
    assert _login("ann", PASSWORD)
    failed = AuditRecord.objects.get(action="auth.login_failed")
    ok = AuditRecord.objects.get(action="auth.login")
    assert (failed.actor, failed.object_id, failed.channel) == ("ann", "ann", "web")
    assert (ok.actor, ok.role) == ("ann", "coordinator")
    assert json.loads(failed.new_value) == {"ip": "192.0.2.7"}
    assert "guess-one" not in failed.new_value and PASSWORD not in ok.new_value


@pytest.mark.django_db
def test_five_failed_logins_lock_the_account_and_the_lockout_is_audited(make_user) -> None:  # type: ignore[no-untyped-def]
    from iliad7.audit import trail
    from iliad7.store.models import AuditRecord

    make_user("ann", ["coordinator"], ["MSKCC"])
    for attempt in range(5):
        assert not _login("ann", f"wrong-{attempt}")
    lockout = AuditRecord.objects.get(action="auth.lockout")
    assert lockout.object_id == "ann"
    # Locked out: even the right password is refused now.
    assert not _login("ann", PASSWORD)
    assert not AuditRecord.objects.filter(action="auth.login").exists()
    assert trail.verify().ok


@pytest.mark.django_db
def test_security_events_are_a_closed_list() -> None:
    from iliad7.store.actions import record_security_event

    with pytest.raises(ValueError, match="unknown security event"):
        record_security_event("coffee", actor="x", channel="web")


@pytest.mark.django_db
def test_unblinding_and_export_events_are_recorded() -> None:
    from iliad7.store.actions import record_security_event
    from iliad7.store.models import AuditRecord

    record_security_event(
        "unblinding",
        actor="dsmb1",
        role="dsmb-member",
        channel="web",
        object_type="participant",
        object_id="MSKCC-S001",
        reason="SAE requiring knowledge of treatment",
    )
    record_security_event("export", actor="stat", role="blinded-statistician", channel="cli")
    assert list(AuditRecord.objects.values_list("action", flat=True)) == ["unblinding", "export"]
    assert AuditRecord.objects.get(action="unblinding").reason.startswith("SAE")


def test_production_settings_hash_passwords_with_argon2_first() -> None:
    import iliad7.settings as production

    assert production.PASSWORD_HASHERS[0].endswith("Argon2PasswordHasher")


def test_production_settings_lock_out_time_out_and_check_csrf() -> None:
    import iliad7.settings as production

    assert production.AXES_FAILURE_LIMIT == 5
    assert production.AXES_LOCKOUT_PARAMETERS == [["username", "ip_address"]]  # per user *and* source
    assert production.AUTHENTICATION_BACKENDS[0] == "axes.backends.AxesStandaloneBackend"
    assert production.SESSION_SAVE_EVERY_REQUEST is False  # no write per request (iliad7.web.idle)
    assert production.ILIAD7_SESSION_IDLE_SECONDS == 15 * 60
    assert "iliad7.web.idle.IdleTimeoutMiddleware" in production.MIDDLEWARE
    assert "django.middleware.csrf.CsrfViewMiddleware" in production.MIDDLEWARE
    assert "django_otp.middleware.OTPMiddleware" in production.MIDDLEWARE
    assert production.MIDDLEWARE[-1] == "axes.middleware.AxesMiddleware"


def test_secret_key_is_generated_once_per_installation_when_not_given(tmp_path) -> None:  # type: ignore[no-untyped-def]
    import subprocess
    import sys

    env = {"PATH": "/usr/bin:/bin", "ILIAD7_HOME": str(tmp_path)}
    code = "import iliad7.settings as s; print(s.SECRET_KEY)"
    first = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    second = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert first.returncode == 0, first.stderr
    key = first.stdout.strip()
    assert len(key) >= 50 and key == second.stdout.strip()
    assert (tmp_path / "secret_key").stat().st_mode & 0o077 == 0
    assert "development" not in key


@pytest.mark.django_db
def test_health_answers_ok_when_the_database_answers() -> None:
    response = Client().get("/health")
    assert response.status_code == 200 and json.loads(response.content) == {"status": "ok"}
