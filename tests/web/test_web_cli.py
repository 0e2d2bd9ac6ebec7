"""`iliad7 web demo-users` and `iliad7 serve` (gunicorn with production settings)."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

REPO = Path(__file__).resolve().parents[2]
PASSWORD = "correct-horse-battery-staple"
# The lead registers the web commands in iliad7.cli; the tests build the same command here.
CLI = (
    "import typer; from iliad7.cli import store, web; "
    "app = typer.Typer(add_completion=False, pretty_exceptions_enable=False); "
    "store.register(app); web.register(app); app()"
)


def _app() -> typer.Typer:
    from iliad7.cli import store, web

    app = typer.Typer(no_args_is_help=True, add_completion=False, pretty_exceptions_enable=False)
    store.register(app)
    web.register(app)
    return app


@pytest.mark.django_db
def test_demo_users_one_per_role_with_totp_where_needed(sites) -> None:  # type: ignore[no-untyped-def]
    from django_otp.plugins.otp_totp.models import TOTPDevice

    from iliad7.accounts.roles import ROLES
    from iliad7.store.access import roles_of
    from iliad7.store.models import AuditRecord, User

    result = CliRunner().invoke(_app(), ["web", "demo-users", "--password-stdin", "--json"], input=PASSWORD + "\n")
    assert result.exit_code == 0, result.output
    rows = json.loads(result.stdout)
    assert {row["role"] for row in rows} == set(ROLES)
    site_roles = [r for r in ROLES if ROLES[r].site_scoped]
    for role in site_roles:
        assert sorted(row["sites"][0] for row in rows if row["role"] == role) == ["MDACC", "MSKCC"]
    for row in rows:
        user = User.objects.get(username=row["username"])
        assert roles_of(user) == {row["role"]} and user.check_password(PASSWORD)
        has_device = TOTPDevice.objects.filter(user=user).exists()
        assert has_device == (ROLES[row["role"]].needs_totp or row["role"] == "investigator"), row
        assert (row["totp"] or "").startswith("otpauth://totp/") == has_device
    assert AuditRecord.objects.filter(action="user.create", channel="cli").count() == len(rows)
    again = CliRunner().invoke(_app(), ["web", "demo-users", "--password-stdin"], input=PASSWORD + "\n")
    assert again.exit_code == 0 and "exists, unchanged" in again.stdout


@pytest.mark.django_db
def test_demo_users_needs_the_password_on_stdin(sites) -> None:  # type: ignore[no-untyped-def]
    result = CliRunner().invoke(_app(), ["web", "demo-users"])
    assert result.exit_code == 2 and "--password-stdin" in result.output
    weak = CliRunner().invoke(_app(), ["web", "demo-users", "--password-stdin"], input="short\n")
    assert weak.exit_code == 2 and "--password-stdin" in weak.output


def test_serve_refuses_debug_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ILIAD7_DEBUG", "1")
    result = CliRunner().invoke(_app(), ["serve", "--port", "8999"])
    assert result.exit_code == 2 and "ILIAD7_DEBUG" in result.output


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_serve_runs_the_app_under_gunicorn(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "DJANGO_SETTINGS_MODULE", "ILIAD7_DEBUG")}
    env["ILIAD7_HOME"] = str(tmp_path / "home")
    init = subprocess.run([sys.executable, "-c", CLI, "init"], env=env, capture_output=True, text=True, timeout=120)
    assert init.returncode == 0, init.stderr
    port = _free_port()
    server = subprocess.Popen(
        [sys.executable, "-c", CLI, "serve", "--port", str(port), "--workers", "1"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 30
        while True:
            try:
                with urllib.request.urlopen(f"{base}/health", timeout=2) as response:
                    assert json.loads(response.read()) == {"status": "ok"}
                    break
            except OSError:
                assert server.poll() is None, server.stderr.read() if server.stderr else ""
                assert time.monotonic() < deadline, "the server did not answer in 30 s"
                time.sleep(0.3)
        with urllib.request.urlopen(f"{base}/accounts/login/", timeout=5) as response:
            assert response.status == 200
            assert "default-src 'self'" in response.headers["Content-Security-Policy"]
        with urllib.request.urlopen(f"{base}/static/iliad7/htmx.min.js", timeout=5) as response:
            assert response.status == 200 and len(response.read()) > 10_000
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=30)


def test_serve_says_plainly_when_the_port_is_taken_and_prints_no_address() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = int(taken.getsockname()[1])
        result = CliRunner().invoke(_app(), ["serve", "--port", str(port)])
    assert result.exit_code == 2
    assert (
        f"port {port} on 127.0.0.1 is already in use" in result.output and f"PORT={port + 1} make run" in result.output
    )
    assert "http://" not in result.output and "Traceback" not in result.output
