"""Restore drill, as docs/operations.md asks site IT to rehearse it: back up, write more, restore, verify.

On both backends, through the command line only: `iliad7 backup FILE`,
more writes (a randomization, a new account), `iliad7 restore FILE`; then
`iliad7 audit verify` passes and every table holds exactly what it held at
the backup point (the audit trail up to the backup's last record, which is the
backup's own record, plus the restore's own record after it). The backup is
older than the latest checkpoint by then, so the restore is refused until it
is acknowledged with a reason.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import soaklib


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_restore_brings_back_exactly_the_backup_point(backend: str, tmp_path: Path) -> None:
    db = soaklib.Database(backend, tmp_path)
    try:
        env = db.env
        trial = soaklib.prepare(env, participants=4, seed=11)
        at_backup = json.loads(soaklib.cli(env, "audit", "verify", "--json"))
        assert at_backup["ok"] is True
        before = soaklib.fingerprint(env, audit_up_to=at_backup["records"])
        backup = tmp_path / "iliad7-backup.bin"
        soaklib.cli(env, "backup", str(backup))
        assert backup.stat().st_size > 0

        sn = trial.waiting["MSKCC"][0]
        soaklib.cli(env, "randomize", sn, "--as", trial.users["investigator@MSKCC"][0], "--confirm", "--json")
        soaklib.cli(
            env,
            "user",
            "add",
            "late-arrival",
            "--role",
            "coordinator",
            "--site",
            "MDACC",
            "--password-stdin",
            stdin=soaklib.PASSWORD,
        )
        assert soaklib.fingerprint(env, audit_up_to=at_backup["records"]) != before

        with pytest.raises(RuntimeError, match=r"exited 1: .*--acknowledge-rollback"):
            soaklib.cli(env, "restore", str(backup))
        soaklib.cli(env, "restore", str(backup), "--acknowledge-rollback", "restore drill")
        after = json.loads(soaklib.cli(env, "audit", "verify", "--json"))
        assert after["ok"] is True and after["first_broken"] is None
        assert after["records"] == at_backup["records"] + 2  # the backup and the restore are audited
        assert soaklib.fingerprint(env, audit_up_to=at_backup["records"]) == before
        listing = json.loads(soaklib.cli(env, "participant", "list", "--as", "sim-statistician", "--json"))
        assert next(p for p in listing if p["screening_number"] == sn)["status"] == "consented"
    finally:
        db.close()
