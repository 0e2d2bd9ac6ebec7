"""The audit chain anchored outside the database, tested as an intruder with file access would attack it.

The hash chain alone cannot see a tail cut whose chain-head row is rewritten to
what is left, nor an older copy of the database put back: both are valid
chains. The signed checkpoints written after every commit (iliad7.audit.anchor)
must catch both, name the first missing or changed record, report forged
checkpoints, and stay quiet about a clean database and about a crash between a
commit and its checkpoint.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from iliad7.audit.chain import GENESIS_HASH, BrokenLink
from iliad7.audit.checkpoint import Checkpoint, compare, head_fields, parse, report, sign
from iliad7.audit.sinks import FileSink, ObjectSink, read_entries, sink_from_url

SCRIPTS = Path(__file__).with_name("store_scripts.py")
AT = "2026-11-25T10:00:00.000000+00:00"


# ---- the pure part: signing, parsing, comparing -------------------------------------------------


def _head(key: Ed25519PrivateKey, last_id: int, last_hash: str, at: str = AT) -> Checkpoint:
    return sign(head_fields(last_id, last_hash, at, "commit"), key)


def _keys(*keys: Ed25519PrivateKey) -> dict[str, Any]:
    from iliad7.audit.checkpoint import key_id_of

    return {key_id_of(k.public_key()): k.public_key() for k in keys}


def _chain(n: int) -> dict[int, str]:
    return {i: f"{i:064x}" for i in range(1, n + 1)}


def _lookup(chain: dict[int, str]) -> Any:
    return lambda ids: {i: chain[i] for i in ids if i in chain}


def test_a_signed_line_parses_back_and_verifies_and_any_change_breaks_it() -> None:
    key = Ed25519PrivateKey.generate()
    checkpoint = _head(key, 7, "a" * 64)
    again = parse(checkpoint.line().decode())
    assert again.fields == checkpoint.fields and again.sig == checkpoint.sig
    keys = _keys(key)
    result = report([again], keys, _lookup({7: "a" * 64}), 7)
    assert result.ok and result.checked == 1 and result.latest == {"last_id": 7, "last_hash": "a" * 64, "at": AT}
    altered = parse(checkpoint.line().decode().replace('"last_id":7', '"last_id":6'))
    result = report([altered], keys, _lookup({6: "a" * 64}), 7)
    assert not result.ok and result.checked == 0
    assert result.bad_signatures[0]["problem"].startswith("the signature does not verify")


def test_a_checkpoint_signed_by_an_unknown_key_is_reported_not_trusted() -> None:
    ours, theirs = Ed25519PrivateKey.generate(), Ed25519PrivateKey.generate()
    forged = _head(theirs, 3, "b" * 64)  # would "prove" a chain of 3 that is not ours
    result = report([forged], _keys(ours), _lookup(_chain(10)), 10)
    assert not result.ok and result.first_broken is None and result.checked == 0
    assert "unknown key" in result.bad_signatures[0]["problem"]


def test_a_cut_tail_is_named_at_its_first_missing_record() -> None:
    key = Ed25519PrivateKey.generate()
    chain = _chain(10)
    heads = [_head(key, 4, chain[4]), _head(key, 10, chain[10])]
    cut = {i: h for i, h in chain.items() if i <= 6}  # records 7-10 deleted, the head row set to 6
    broken = compare(heads, _lookup(cut), 6)
    assert isinstance(broken, BrokenLink) and broken.id == 7
    assert "records 7 to 10 are missing" in broken.reason


def test_a_rewritten_chain_is_named_after_the_last_checkpoint_that_still_matches() -> None:
    key = Ed25519PrivateKey.generate()
    chain = _chain(10)
    heads = [_head(key, 3, chain[3]), _head(key, 5, chain[5]), _head(key, 9, chain[9])]
    rewritten = {**chain, **{i: f"{i + 100:064x}" for i in range(6, 11)}}  # 6-10 rehashed consistently
    broken = compare(heads, _lookup(rewritten), 10)
    assert broken is not None and broken.id == 6 and "record 9 has hash" in broken.reason


def test_a_clean_chain_longer_than_its_last_checkpoint_verifies() -> None:
    # A crash between a commit and its checkpoint leaves exactly this: more records than checkpoints.
    key = Ed25519PrivateKey.generate()
    chain = _chain(12)
    assert report([_head(key, 5, chain[5]), _head(key, 9, chain[9])], _keys(key), _lookup(chain), 12).ok
    assert report([], _keys(key), _lookup(chain), 12).ok


def test_an_acknowledged_restore_supersedes_only_the_rolled_back_checkpoints() -> None:
    key = Ed25519PrivateKey.generate()
    old = _chain(10)
    before = [_head(key, 4, old[4], "2026-11-25T10:00:00+00:00"), _head(key, 10, old[10], "2026-11-25T11:00:00+00:00")]
    restore = sign(
        {"kind": "restore", "at": "2026-11-25T12:00:00+00:00", "restored_last_id": 4, "restored_last_hash": old[4],
         "superseded_from": 5, "superseded_to": 10, "reason": "disk lost", "marker": "m1"},
        key,
    )  # fmt: skip
    new = {**{i: old[i] for i in range(1, 5)}, 5: "c" * 64, 6: "d" * 64}
    after = [_head(key, 6, new[6], "2026-11-25T12:00:01+00:00")]
    result = report([*before, restore, *after], _keys(key), _lookup(new), 6)
    assert result.ok and result.superseded == 1 and result.checked == 2
    # Without the signed acknowledgement the same database is a rollback.
    assert not report([*before, *after], _keys(key), _lookup(new), 6).ok
    # The restore's own problem (no audit record repeating its marker) is reported.
    flagged = report([*before, restore, *after], _keys(key), _lookup(new), 6, restore_problem=lambda e: "gone")
    assert not flagged.ok and flagged.problems == ("gone",)


def test_the_file_sink_survives_a_line_cut_short_and_the_object_sink_never_rewrites(tmp_path: Path) -> None:
    key = Ed25519PrivateKey.generate()
    log = FileSink(tmp_path / "audit" / "checkpoints.jsonl")
    log.append(_head(key, 1, "a" * 64).line())
    with log.path.open("ab") as handle:
        handle.write(b'{"kind":"head","last_id":2,"la')  # a crash in the middle of a write
    log.append(_head(key, 3, "c" * 64).line())
    entries, unreadable = read_entries([log])
    assert [e.last_id for e in entries] == [1, 3] and len(unreadable) == 1
    assert oct(log.path.stat().st_mode & 0o777) == "0o600"
    objects = sink_from_url(f"objects:{tmp_path / 'bucket'}?retention_days=3650")
    assert isinstance(objects, ObjectSink)
    objects.append(_head(key, 1, "a" * 64).line())
    objects.append(_head(key, 1, "a" * 64, "2026-11-25T10:00:01.000000+00:00").line())
    stored = sorted((tmp_path / "bucket").rglob("*.json"))
    assert len(stored) == 2 and all(oct(p.stat().st_mode & 0o777) == "0o444" for p in stored)
    assert '"retain_until":"' in stored[0].read_text()
    entries, unreadable = read_entries([objects])
    assert len(entries) == 2 and not unreadable
    assert report(entries, _keys(key), _lookup({1: "a" * 64}), 1).ok  # the retention date is not signed
    with pytest.raises(ValueError, match="unknown scheme"):
        sink_from_url("ftp:/x")
    with pytest.raises(ValueError, match="absolute path"):
        sink_from_url("file:relative/log")


# ---- in the application: one checkpoint per committed transaction, none for a rollback -------------


def _log_entries() -> list[Checkpoint]:
    from iliad7.audit import anchor

    return read_entries(anchor.sinks())[0]


@pytest.mark.django_db(transaction=True)
def test_a_checkpoint_follows_each_commit_never_a_rollback() -> None:
    from django.db import transaction

    from iliad7.audit import anchor, trail
    from iliad7.store.models import AuditRecord

    def event(name: str) -> None:
        trail.append(actor="system", role="", channel="system", action=name)

    with transaction.atomic():
        event("a")
        event("b")
        event("c")
    heads = _log_entries()
    last = AuditRecord.objects.order_by("-id").first()
    assert [(h.last_id, h.last_hash) for h in heads] == [(last.id, last.hash)]  # one per commit, its last record
    with pytest.raises(RuntimeError), transaction.atomic():
        event("rolled back")
        raise RuntimeError
    assert len(_log_entries()) == 1  # never a checkpoint of a write the database does not have
    with transaction.atomic():
        try:
            with transaction.atomic():
                event("inner, rolled back")
                raise RuntimeError
        except RuntimeError:
            pass
        event("outer")
    heads = _log_entries()
    last = AuditRecord.objects.order_by("-id").first()
    assert len(heads) == 2 and (heads[-1].last_id, heads[-1].last_hash) == (last.id, last.hash)
    assert anchor.verify().ok


@pytest.mark.django_db(transaction=True)
def test_an_unwritable_checkpoint_log_does_not_fail_the_write(settings: Any, tmp_path: Path) -> None:
    from django.db import transaction

    from iliad7.audit import anchor, trail
    from iliad7.store.models import AuditRecord

    blocker = tmp_path / "not-a-folder"
    blocker.write_text("")
    settings.ILIAD7_CHECKPOINT_SINKS = [f"file:{blocker}/checkpoints.jsonl"]
    with transaction.atomic():
        trail.append(actor="system", role="", channel="system", action="kept")
    assert AuditRecord.objects.filter(action="kept").exists()
    assert anchor.verify().ok  # a chain longer than its checkpoints


# ---- the intruder, through the command line, on both backends ---------------------------------------

_ATTACK = """
import json, sys
from iliad7.store import runtime
runtime.setup()
from django.db import connection
from iliad7.store.triggers import drop_statements
what, arg = sys.argv[1], sys.argv[2]
if what == "cut":
    keep = int(arg)
    with connection.cursor() as c:
        for statement in drop_statements(connection.vendor):
            c.execute(statement)
        c.execute("DELETE FROM store_auditrecord WHERE id > %s", [keep])
        c.execute("SELECT hash FROM store_auditrecord WHERE id = %s", [keep])
        kept_hash = c.fetchone()[0]
        c.execute("UPDATE store_auditchainhead SET last_id = %s, last_hash = %s WHERE id = 1", [keep, kept_hash])
    from iliad7.audit import trail
    print(json.dumps(trail.verify().as_dict()))
elif what in ("copy", "put-back"):
    from iliad7.store.backup import _pg_env, pg_tool
    if connection.vendor == "sqlite":
        import sqlite3
        connection.ensure_connection()
        if what == "copy":
            dest = sqlite3.connect(arg)
            connection.connection.backup(dest)
        else:
            src = sqlite3.connect(arg)
            connection.close()
            dest = sqlite3.connect(connection.settings_dict["NAME"])
            src.backup(dest)
        dest.close()
    else:
        import subprocess
        env, name = _pg_env()
        connection.close()
        cmd = ([pg_tool("pg_dump"), "--format=custom", "-f", arg, name] if what == "copy" else
               [pg_tool("pg_restore"), "--clean", "--if-exists", "--single-transaction", "-d", name, arg])
        subprocess.run(cmd, env=env, check=True, capture_output=True)
"""


def _attack(env: dict[str, str], *args: str) -> str:
    done = subprocess.run([sys.executable, "-c", _ATTACK, *args], env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return done.stdout


def _populate(env: dict[str, str]) -> None:
    done = subprocess.run([sys.executable, str(SCRIPTS), "populate", "ann"], env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr


def _verify(run_cli: Any, env: dict[str, str], *extra: str) -> tuple[int, dict[str, Any]]:
    result = run_cli(env, "audit", "verify", "--json", *extra)
    assert result.returncode in (0, 1), result.stderr
    return result.returncode, json.loads(result.stdout)


def _log(env: dict[str, str]) -> Path:
    return Path(env["ILIAD7_HOME"]) / "audit" / "checkpoints.jsonl"


@pytest.mark.django_db
def test_a_cut_tail_with_the_head_row_rewritten_is_caught(initialised: dict[str, str], run_cli: Any) -> None:
    env = initialised
    _populate(env)
    code, clean = _verify(run_cli, env)
    assert code == 0 and clean["ok"] and clean["checkpoints"]["ok"] and clean["checkpoints"]["checked"] >= 9
    keep = clean["records"] - 5
    # The intruder drops the triggers, deletes the newest records and sets the head to what is left:
    chain_alone = json.loads(_attack(env, "cut", str(keep)))
    assert chain_alone["ok"] is True  # the hash chain by itself cannot see it
    code, body = _verify(run_cli, env)
    assert code == 1 and body["ok"] is False and body["records"] == keep
    assert body["first_broken"]["id"] == keep + 1 and "missing" in body["first_broken"]["reason"]
    assert body["checkpoints"]["first_broken"] == body["first_broken"]
    text = run_cli(env, "audit", "verify")
    assert text.returncode == 1 and f"BROKEN at record {keep + 1}" in text.stdout


@pytest.mark.django_db
def test_an_older_copy_of_the_database_put_back_is_caught(
    initialised: dict[str, str], run_cli: Any, tmp_path: Path
) -> None:
    env = initialised
    _populate(env)
    old_copy = tmp_path / "old-copy.db"
    _attack(env, "copy", str(old_copy))
    code, at_copy = _verify(run_cli, env)
    assert code == 0
    _populate(env)  # days of work after the copy
    _attack(env, "put-back", str(old_copy))
    code, body = _verify(run_cli, env)
    assert code == 1 and body["records"] == at_copy["records"]
    assert body["first_broken"]["id"] == at_copy["records"] + 1
    # The application carries on on the old copy: the reused ids now hold other records.
    _populate(env)
    code, body = _verify(run_cli, env)
    assert code == 1 and body["first_broken"]["id"] == at_copy["records"] + 1
    assert "differs from the checkpoint" in body["first_broken"]["reason"]


@pytest.mark.django_db
def test_forged_checkpoints_are_reported_and_an_exported_head_is_checked(
    initialised: dict[str, str], run_cli: Any, tmp_path: Path
) -> None:
    env = initialised
    _populate(env)
    exported = tmp_path / "head.json"
    out = run_cli(env, "audit", "checkpoint", "export", "--out", str(exported))
    assert out.returncode == 0, out.stderr
    head = json.loads(exported.read_text())
    assert json.loads(out.stdout) == head and head["public_key"] and head["source"] == "export"
    code, body = _verify(run_cli, env, "--head", str(exported))
    assert code == 0 and body["exported_head"]["ok"] is True
    # The sponsor pins its own copy of the public key: a head signed by another key is not accepted.
    stranger = tmp_path / "stranger.pub"
    from iliad7.audit.checkpoint import public_key_text

    stranger.write_text(public_key_text(Ed25519PrivateKey.generate().public_key()))
    code, body = _verify(run_cli, env, "--head", str(exported), "--public-key", str(stranger))
    assert code == 1 and "unknown key" in body["exported_head"]["problem"]
    # Forged lines in the log: one signed by a key the site never had, one altered after signing.
    log = _log(env)
    lines = log.read_bytes().splitlines(keepends=True)
    forged = sign(head_fields(2, GENESIS_HASH, AT, "commit"), Ed25519PrivateKey.generate()).line()
    altered = lines[0].replace(b'"last_id":', b'"last_id":1', 1)
    log.write_bytes(b"".join([*lines, forged, altered]))
    code, body = _verify(run_cli, env)
    assert code == 1 and body["ok"] is False and body["first_broken"] is None
    problems = [b["problem"] for b in body["checkpoints"]["bad_signatures"]]
    assert len(problems) == 2 and any("unknown key" in p for p in problems)
    assert any("does not verify" in p for p in problems)
    # After a tail cut the exported head is not held by the chain any more.
    log.write_bytes(b"".join(lines))
    _attack(env, "cut", str(head["last_id"] - 2))
    code, body = _verify(run_cli, env, "--head", str(exported))
    assert code == 1 and body["exported_head"]["ok"] is False
    assert body["exported_head"]["first_broken"]["id"] == head["last_id"] - 1
    refused = run_cli(env, "audit", "checkpoint", "export")
    assert refused.returncode == 1 and "does not verify" in refused.stderr


@pytest.mark.django_db
def test_a_crash_between_commit_and_checkpoint_still_verifies(initialised: dict[str, str], run_cli: Any) -> None:
    env = initialised
    _populate(env)
    log = _log(env)
    lines = log.read_bytes().splitlines(keepends=True)
    # The last commits' checkpoints never made it, and the one being written was cut short.
    log.write_bytes(b"".join(lines[:-3]) + lines[-3][: len(lines[-3]) // 2])
    code, body = _verify(run_cli, env)
    assert code == 0 and body["ok"] and len(body["checkpoints"]["unreadable"]) == 1
    _populate(env)  # the next writer ends the broken line and appends whole ones
    code, body = _verify(run_cli, env)
    assert code == 0 and body["ok"] and len(body["checkpoints"]["unreadable"]) == 1
    assert body["checkpoints"]["latest"]["last_id"] == body["records"]


@pytest.mark.django_db
def test_an_older_backup_is_restored_only_when_acknowledged_and_that_is_audited(
    initialised: dict[str, str], run_cli: Any, tmp_path: Path
) -> None:
    env = initialised
    _populate(env)
    backup = tmp_path / "iliad7.backup"
    assert run_cli(env, "backup", str(backup)).returncode == 0
    sidecar = json.loads((tmp_path / "iliad7.backup.checkpoint.json").read_text())
    assert sidecar["source"] == "backup" and sidecar["backup"] == "iliad7.backup" and len(sidecar["sha256"]) == 64
    _, at_backup = _verify(run_cli, env)
    assert sidecar["last_id"] == at_backup["records"]  # the backup holds its own backup.create record
    # The newest backup restores without any acknowledgement...
    assert run_cli(env, "restore", str(backup)).returncode == 0
    _populate(env)  # ...but once more has been written, it is older than the latest checkpoint.
    _, before = _verify(run_cli, env)
    refused = run_cli(env, "restore", str(backup))
    assert refused.returncode == 1 and "--acknowledge-rollback" in refused.stderr
    _, unchanged = _verify(run_cli, env)
    assert unchanged["records"] == before["records"]
    done = run_cli(env, "restore", str(backup), "--acknowledge-rollback", "disk of the server replaced")
    assert done.returncode == 0, done.stderr
    assert "rolled back" in done.stdout
    code, body = _verify(run_cli, env)
    assert code == 0 and body["ok"] and body["checkpoints"]["superseded"] >= 1
    assert body["checkpoints"]["restores"][0]["reason"] == "disk of the server replaced"
    dumped = json.loads(
        subprocess.run([sys.executable, str(SCRIPTS), "dump"], env=env, capture_output=True, text=True).stdout
    )
    last = dumped["AuditRecord"][-1]
    assert last["action"] == "backup.restore" and last["reason"] == "disk of the server replaced"
    rollback = json.loads(last["new_value"])["rollback"]
    assert rollback["from"] == sidecar["last_id"] + 1 and rollback["to"] == before["records"]
    assert rollback["marker"] == body["checkpoints"]["restores"][0]["marker"]
    _populate(env)  # the log carries on after the acknowledged rollback
    code, body = _verify(run_cli, env)
    assert code == 0 and body["ok"]
    # A backup changed after it was made no longer matches its signed checkpoint: refused.
    with backup.open("r+b") as handle:
        handle.seek(-1, 2)
        last_byte = handle.read(1)
        handle.seek(-1, 2)
        handle.write(bytes([last_byte[0] ^ 1]))
    refused = run_cli(env, "restore", str(backup), "--acknowledge-rollback", "anyway")
    assert refused.returncode == 1 and "SHA-256" in refused.stderr
