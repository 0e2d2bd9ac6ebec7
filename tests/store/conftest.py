"""Fixtures of the trial-database tests: sites from the protocol, users by role."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import pytest

PASSWORD = "correct-horse-battery-staple"
REPO = Path(__file__).resolve().parents[2]
PROTOCOL_FILE = REPO / "protocols" / "iliad-7-us-o.yaml"
PG_BASE_URL_ENV = "ILIAD7_TEST_PG_BASE_URL"  # set by tests/conftest.py under PostgreSQL


@pytest.fixture
def sites(db: None) -> dict[str, object]:
    """The protocol loaded into the test database: its sites by code."""
    from iliad7.store.actions import load_protocol_version
    from iliad7.store.models import Site

    load_protocol_version(PROTOCOL_FILE, channel="system")
    return {s.code: s for s in Site.objects.all()}


@pytest.fixture
def make_user(sites: dict[str, object]) -> Callable[..., object]:
    """Create a user through the add_user action: make_user("ann", ["coordinator"], ["MSKCC"])."""
    from iliad7.store.actions import add_user

    def make(username: str, roles: Sequence[str], site_codes: Sequence[str] = (), full_name: str = "") -> object:
        return add_user(
            username,
            password=PASSWORD,
            roles=roles,
            sites=site_codes,
            full_name=full_name or username.title(),
            acting_user=None,
            channel="system",
        )

    return make


def _new_pg_database(base: str, template: str | None = None) -> str:
    import psycopg

    name = f"iliad7_cli_{uuid.uuid4().hex[:12]}"
    clause = f' TEMPLATE "{template}"' if template else ""
    with psycopg.connect(f"{base}/postgres", autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"{clause}')
    return name


def _drop_pg_database(base: str, name: str) -> None:
    import psycopg

    with psycopg.connect(f"{base}/postgres", autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _cli_env(home: Path, database: str | None) -> dict[str, str]:
    env = dict(os.environ)
    env.pop("DJANGO_SETTINGS_MODULE", None)
    env.pop("DATABASE_URL", None)
    env["ILIAD7_HOME"] = str(home)
    if database is not None:
        env["DATABASE_URL"] = f"{os.environ[PG_BASE_URL_ENV]}/{database}"
    return env


@pytest.fixture
def fresh_database_env(tmp_path: Path) -> Iterator[dict[str, str]]:
    """Environment for running `iliad7` in a subprocess against its own empty database.

    SQLite: a new ILIAD7_HOME. PostgreSQL: a new database on the session's server.
    """
    base = os.environ.get(PG_BASE_URL_ENV)
    name = _new_pg_database(base) if base else None
    yield _cli_env(tmp_path / "home", name)
    if base and name:
        _drop_pg_database(base, name)


@pytest.fixture(scope="session")
def _initialised_template(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    # `iliad7 init` and one `user add` take seconds (migrations, Argon2); do them
    # once and give each test a copy of the result.
    base = os.environ.get(PG_BASE_URL_ENV)
    name = _new_pg_database(base) if base else None
    env = _cli_env(tmp_path_factory.mktemp("template") / "home", name)
    for args, stdin in (
        (("init", "--protocol", str(PROTOCOL_FILE)), None),
        (
            (
                "user", "add", "ann", "--role", "coordinator", "--site", "MSKCC",
                "--full-name", "Ann Coordinator", "--password-stdin",
            ),
            PASSWORD + "\n",
        ),
    ):  # fmt: skip
        done = _run_cli(env, *args, stdin=stdin)
        assert done.returncode == 0, done.stderr
    yield env
    if base and name:
        _drop_pg_database(base, name)


@pytest.fixture
def initialised(_initialised_template: dict[str, str], tmp_path: Path) -> Iterator[dict[str, str]]:
    """Like fresh_database_env, after `iliad7 init` and `user add ann` (MSKCC coordinator)."""
    import shutil
    import sqlite3

    base = os.environ.get(PG_BASE_URL_ENV)
    template_home = Path(_initialised_template["ILIAD7_HOME"])
    home = tmp_path / "home"
    home.mkdir()
    if (template_home / "secret_key").exists():
        shutil.copy2(template_home / "secret_key", home / "secret_key")
    if base:
        template = _initialised_template["DATABASE_URL"].rsplit("/", 1)[1]
        name = _new_pg_database(base, template=template)
        yield _cli_env(home, name)
        _drop_pg_database(base, name)
        return
    source = sqlite3.connect(template_home / "iliad7.sqlite3")
    target = sqlite3.connect(home / "iliad7.sqlite3")
    try:
        source.backup(target)
    finally:
        source.close()
        target.close()
    yield _cli_env(home, None)


def _run_cli(env: dict[str, str], *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", "from iliad7.cli import main; main()", *args],
        env=env,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.fixture
def run_cli() -> Callable[..., subprocess.CompletedProcess[str]]:
    """run_cli(env, "audit", "verify", "--json", stdin=None): `iliad7 ARGS` in a subprocess."""
    return _run_cli
