"""The trial-database commands as outside scripts run them: a subprocess on a fresh database."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.django_db  # they touch a database (their own), on both backends

REPO = Path(__file__).resolve().parents[2]
PROTOCOL = REPO / "protocols" / "iliad-7-us-o.yaml"
SCRIPTS = Path(__file__).with_name("store_scripts.py")
PASSWORD = "correct-horse-battery-staple"


def _script(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    done = subprocess.run([sys.executable, str(SCRIPTS), *args], env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return done


def _dump(env: dict[str, str]) -> dict[str, list[dict[str, object]]]:
    return json.loads(_script(env, "dump").stdout)


def _ok(result: subprocess.CompletedProcess[str]) -> subprocess.CompletedProcess[str]:
    assert result.returncode == 0, result.stderr
    return result


def test_init_twice_changes_nothing(fresh_database_env, run_cli) -> None:  # type: ignore[no-untyped-def]
    env = fresh_database_env
    first = _ok(run_cli(env, "init", "--protocol", str(PROTOCOL)))
    assert "(loaded)" in first.stdout and "sites added: MSKCC, MDACC" in first.stdout
    before = _dump(env)
    second = _ok(run_cli(env, "init", "--protocol", str(PROTOCOL)))
    assert "already loaded, unchanged" in second.stdout
    assert _dump(env) == before
    assert [p["version"] for p in before["ProtocolVersion"]] == [1]


def test_amended_protocol_adds_a_version_and_keeps_the_old_one(  # type: ignore[no-untyped-def]
    fresh_database_env, run_cli, tmp_path
) -> None:
    env = fresh_database_env
    _ok(run_cli(env, "init", "--protocol", str(PROTOCOL)))
    original = PROTOCOL.read_text(encoding="utf-8")
    amended = tmp_path / "iliad-7-us-o-amendment-1.yaml"
    amended.write_text(original + "\n# Amendment 1: clarified wording.\n", encoding="utf-8")
    out = _ok(run_cli(env, "init", "--protocol", str(amended))).stdout
    assert "protocol version 2" in out
    _ok(run_cli(env, "init", "--protocol", str(amended)))
    _ok(run_cli(env, "init", "--protocol", str(PROTOCOL)))  # the old file is still version 1
    versions = _dump(env)["ProtocolVersion"]
    assert [(v["version"], v["source_name"]) for v in versions] == [
        (1, "iliad-7-us-o.yaml"),
        (2, "iliad-7-us-o-amendment-1.yaml"),
    ]
    assert versions[0]["raw_text"] == original
    import hashlib

    assert versions[1]["sha256"] == hashlib.sha256(amended.read_bytes()).hexdigest()
    verify = json.loads(_ok(run_cli(env, "audit", "verify", "--json")).stdout)
    assert verify["ok"] is True


def test_invalid_protocol_is_bad_input_and_changes_nothing(  # type: ignore[no-untyped-def]
    fresh_database_env, run_cli, tmp_path
) -> None:
    env = fresh_database_env
    broken = tmp_path / "broken.yaml"
    broken.write_text("sites: [\n", encoding="utf-8")
    result = run_cli(env, "init", "--protocol", str(broken))
    assert result.returncode == 2
    assert "--protocol" in result.stderr and "broken.yaml" in result.stderr


def test_sqlite_database_is_in_wal_mode(initialised) -> None:  # type: ignore[no-untyped-def]
    if "DATABASE_URL" in initialised:
        pytest.skip("WAL is a property of the SQLite backend")
    import sqlite3

    db = Path(initialised["ILIAD7_HOME"]) / "iliad7.sqlite3"
    with sqlite3.connect(db) as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone() == ("wal",)


def test_site_list_gives_the_protocol_sites(initialised, run_cli) -> None:  # type: ignore[no-untyped-def]
    rows = json.loads(_ok(run_cli(initialised, "site", "list", "--json")).stdout)
    assert rows == [
        {"code": "MSKCC", "name": "Memorial Sloan Kettering Cancer Center"},
        {"code": "MDACC", "name": "MD Anderson Cancer Center"},
    ]


def test_user_add_stores_an_argon2_hash_and_audits_the_creation(initialised, run_cli) -> None:  # type: ignore[no-untyped-def]
    tables = _dump(initialised)
    (ann,) = tables["User"]
    assert str(ann["password"]).startswith("argon2$argon2id$")
    assert ann["full_name"] == "Ann Coordinator"
    assert [g["role"] for g in tables["RoleGrant"]] == ["coordinator"]
    created = [r for r in tables["AuditRecord"] if r["action"] == "user.create"]
    assert len(created) == 1 and created[0]["channel"] == "cli" and created[0]["actor"] == "system"
    assert PASSWORD not in json.dumps(tables["AuditRecord"])


@pytest.mark.parametrize(
    ("args", "stdin", "field"),
    [
        (["--role", "coordinator", "--site", "NYU"], PASSWORD, "--site"),
        (["--role", "coordinator"], PASSWORD, "--site"),
        (["--role", "nurse", "--site", "MSKCC"], PASSWORD, "--role"),
        (["--role", "monitor", "--site", "MSKCC"], "short", "--password-stdin"),
        (["--role", "monitor", "--site", "MSKCC"], None, "--password-stdin"),
    ],
)
def test_user_add_bad_input_exits_2_naming_the_field(  # type: ignore[no-untyped-def]
    initialised, run_cli, args, stdin, field
) -> None:
    before = _dump(initialised)
    extra = ["--password-stdin"] if stdin is not None else []
    result = run_cli(initialised, "user", "add", "bob", *args, *extra, stdin=stdin)
    assert result.returncode == 2, result.stderr
    assert field in result.stderr
    assert _dump(initialised) == before


def test_user_add_of_an_existing_name_is_refused(initialised, run_cli) -> None:  # type: ignore[no-untyped-def]
    result = run_cli(
        initialised,
        "user",
        "add",
        "ann",
        "--role",
        "monitor",
        "--site",
        "MSKCC",
        "--password-stdin",
        stdin=PASSWORD,
    )
    assert result.returncode == 2 and "already exists" in result.stderr


def test_participant_list_as_site_staff(initialised, run_cli) -> None:  # type: ignore[no-untyped-def]
    _script(initialised, "populate", "ann")
    _ok(
        run_cli(
            initialised,
            "user",
            "add",
            "mdacc-coord",
            "--role",
            "coordinator",
            "--site",
            "MDACC",
            "--password-stdin",
            stdin=PASSWORD,
        )
    )
    mine = json.loads(_ok(run_cli(initialised, "participant", "list", "--as", "ann", "--json")).stdout)
    assert [r["screening_number"] for r in mine] == ["MSKCC-S001", "MSKCC-S002", "MSKCC-S003"]
    assert {r["status"] for r in mine} == {"consented"}
    theirs = run_cli(initialised, "participant", "list", "--as", "mdacc-coord", "--json")
    assert json.loads(_ok(theirs).stdout) == []


def test_audit_verify_reports_tampering_with_exit_1(initialised, run_cli) -> None:  # type: ignore[no-untyped-def]
    _script(initialised, "populate", "ann")
    assert _ok(run_cli(initialised, "audit", "verify")).stdout.startswith("ok: ")
    # Tamper from outside the application, as an intruder with database access would.
    code = (
        "from iliad7.store import runtime; runtime.setup()\n"
        "from django.db import connection\n"
        "from iliad7.store.triggers import drop_statements\n"
        "with connection.cursor() as c:\n"
        "    [c.execute(s) for s in drop_statements(connection.vendor)]\n"
        "    c.execute(\"UPDATE store_auditrecord SET actor = 'mallory' WHERE id = 7\")\n"
    )
    subprocess.run([sys.executable, "-c", code], env=initialised, check=True)
    result = run_cli(initialised, "audit", "verify", "--json")
    assert result.returncode == 1
    assert json.loads(result.stdout)["first_broken"]["id"] == 7


def test_backup_and_restore_give_back_the_same_database_and_chain(  # type: ignore[no-untyped-def]
    initialised, run_cli, tmp_path
) -> None:
    env = initialised
    _script(env, "populate", "ann")
    snapshot = _dump(env)
    backup = tmp_path / "iliad7.backup"
    assert "backup written" in _ok(run_cli(env, "backup", str(backup))).stdout
    # Life goes on after the backup...
    _script(env, "populate", "ann")
    assert len(_dump(env)["Participant"]) == 6
    # ...then the backup is restored: it is older than the latest checkpoint, so only when acknowledged.
    refused = run_cli(env, "restore", str(backup))
    assert refused.returncode == 1 and "--acknowledge-rollback" in refused.stderr
    restored_out = _ok(run_cli(env, "restore", str(backup), "--acknowledge-rollback", "restore test")).stdout
    assert "audit chain intact" in restored_out
    restored = _dump(env)
    for table, rows in snapshot.items():
        if table in {"AuditRecord", "AuditChainHead"}:
            continue
        assert restored[table] == rows, table
    # The chain is the backed-up chain, record for record (the backup holds its own record), plus the restore's.
    assert restored["AuditRecord"][:-2] == snapshot["AuditRecord"]
    assert [r["action"] for r in restored["AuditRecord"][-2:]] == ["backup.create", "backup.restore"]
    assert restored["AuditRecord"][-2]["prev_hash"] == snapshot["AuditRecord"][-1]["hash"]
    verify = json.loads(_ok(run_cli(env, "audit", "verify", "--json")).stdout)
    assert {k: verify[k] for k in ("ok", "records", "first_broken")} == {
        "ok": True,
        "records": len(snapshot["AuditRecord"]) + 2,
        "first_broken": None,
    }
    assert verify["reconciliation"]["ok"] is True and verify["reconciliation"]["checked"]["participants"] == 3


def test_backup_never_overwrites_and_restore_refuses_a_foreign_file(  # type: ignore[no-untyped-def]
    initialised, run_cli, tmp_path
) -> None:
    existing = tmp_path / "taken.backup"
    existing.write_bytes(b"precious")
    result = run_cli(initialised, "backup", str(existing))
    assert result.returncode == 2 and "never overwritten" in result.stderr
    assert existing.read_bytes() == b"precious"
    foreign = tmp_path / "notes.txt"
    foreign.write_text("not a backup")
    result = run_cli(initialised, "restore", str(foreign))
    assert result.returncode == 2 and "FILE" in result.stderr


def test_concurrent_writers_never_fork_the_audit_chain(initialised, run_cli) -> None:  # type: ignore[no-untyped-def]
    workers = [
        subprocess.Popen(
            [sys.executable, str(SCRIPTS), "screen", "ann", "12"],
            env=initialised,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(3)
    ]
    deadline = time.monotonic() + 120
    for worker in workers:
        _, err = worker.communicate(timeout=max(1.0, deadline - time.monotonic()))
        assert worker.returncode == 0, err
    tables = _dump(initialised)
    assert len(tables["Participant"]) == 36
    assert len({p["screening_number"] for p in tables["Participant"]}) == 36
    ids = [r["id"] for r in tables["AuditRecord"]]
    assert ids == list(range(1, len(ids) + 1))
    verify = json.loads(_ok(run_cli(initialised, "audit", "verify", "--json")).stdout)
    assert verify["ok"] is True
    # The three writers appended their checkpoints to one log (file lock, O_APPEND): one whole, signed line
    # per committed write, none interleaved or cut.
    anchored = verify["checkpoints"]
    assert anchored["unreadable"] == [] and anchored["bad_signatures"] == [] and anchored["checked"] >= 36
    assert anchored["latest"]["last_id"] == len(ids)
