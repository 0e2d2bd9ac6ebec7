"""Data exports from the web app and the API: SDTM, ADaM, ODM or CSV as one zip, built in the background.

The export itself is the CLI's (`iliad7.standards.exports`, `iliad7.standards.odm`): one guarded
snapshot of what the user may see, site scoping and blinding applied (a blinded role gets a blinded
export: no arm), and an audited read (`read.export`) recorded by that code. Here it runs in a thread
(`ILIAD7_EXPORT_INLINE` runs it in the request instead: the tests) into the user's own folder,
``ILIAD7_HOME/exports/user-<id>/<job>/`` (named by the account's row id and a generated job name, never
by anything typed); ``status.json`` there says how far it got, and ``iliad7-<kind>.zip`` is the result.
Only data managers and statisticians export.
"""

from __future__ import annotations

import json
import re
import secrets
import shutil
import threading
import zipfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from django.conf import settings

from iliad7.errors import AccessDenied, Iliad7Error, InputError, NotFound

KINDS = {
    "sdtm": "SDTM (XPT, Dataset-JSON, define.xml, annotated CRF)",
    "adam": "ADaM (XPT, Dataset-JSON, define.xml)",
    "csv": "ADaM as CSV files",
    "odm": "CDISC ODM 1.3.2 clinical data (XML)",
}
EXPORT_ROLES = frozenset({"data-manager", "blinded-statistician", "unblinded-statistician"})
STEPS = ("queued", "reading the database and building the datasets", "compressing", "done")
_JOB = re.compile(r"^\d{8}T\d{6}Z-(sdtm|adam|csv|odm)-[0-9a-f]{8}$")


def may_export(user: Any) -> bool:
    from iliad7.store import access

    return bool(user.is_authenticated) and bool(EXPORT_ROLES & set(access.roles_of(user)))


def _folder(user: Any) -> Path:
    return Path(settings.ILIAD7_HOME) / "exports" / f"user-{int(user.pk)}"


def _write_status(job: Path, step: int, message: str = "", *, failed: bool = False) -> None:
    state = "failed" if failed else STEPS[step] if step in (0, len(STEPS) - 1) else "running"
    status = {"state": state, "step": step, "steps": len(STEPS) - 1, "message": message or STEPS[step]}
    tmp = job / "status.tmp"
    tmp.write_text(json.dumps(status))
    tmp.replace(job / "status.json")


def start_export(user: Any, kind: str, *, channel: str) -> str:
    """Queue the export of `kind` for `user`; returns the job's name. Refused: a role that does not export."""
    if not may_export(user):
        raise AccessDenied("only data managers and statisticians export the trial data")
    if kind not in KINDS:
        raise InputError("kind", f"one of {', '.join(KINDS)}, not {kind[:40]!r}")
    name = f"{datetime.now(UTC):%Y%m%dT%H%M%SZ}-{kind}-{secrets.token_hex(4)}"
    job = _folder(user) / name
    job.mkdir(parents=True)
    _write_status(job, 0)
    if getattr(settings, "ILIAD7_EXPORT_INLINE", False):
        _run(user.pk, job, kind, channel)
    else:
        threading.Thread(target=_run, args=(user.pk, job, kind, channel), daemon=True, name=f"export-{name}").start()
    return name


def _run(user_pk: int, job: Path, kind: str, channel: str) -> None:
    from django.db import connection

    from iliad7.store.models import User

    try:
        user = User.objects.get(pk=user_pk)
        _write_status(job, 1)
        files = job / "files"
        if kind == "odm":
            from iliad7.standards.odm import export_odm

            files.mkdir()
            export_odm(user, files / "odm.xml", channel=channel)
        elif kind == "csv":
            from iliad7.standards.exports import export_tables

            export_tables(user, files, fmt="csv", which="adam", channel=channel)
        else:
            from iliad7.standards import exports

            (exports.export_sdtm if kind == "sdtm" else exports.export_adam)(user, files, channel=channel)
        _write_status(job, 2)
        partial = job / "zip.tmp"
        with zipfile.ZipFile(partial, "w", compression=zipfile.ZIP_DEFLATED) as archive:
            for path in sorted(files.rglob("*")):
                if path.is_file():
                    archive.write(path, f"iliad7-{kind}/{path.relative_to(files)}")
        partial.replace(job / f"iliad7-{kind}.zip")
        shutil.rmtree(files)
        _write_status(job, 3, "ready to download")
    except Iliad7Error as error:
        _write_status(job, 1, f"not exported: {error}", failed=True)
    except Exception as error:  # a thread's crash would be lost: say it on the job, then let it be logged
        _write_status(job, 1, f"not exported: internal error ({type(error).__name__})", failed=True)
        raise
    finally:
        if threading.current_thread() is not threading.main_thread() and not getattr(
            settings, "ILIAD7_EXPORT_INLINE", False
        ):
            connection.close()


def _job(user: Any, name: str) -> Path:
    job = _folder(user) / name
    if not may_export(user) or not _JOB.match(name) or not (job / "status.json").is_file():
        raise NotFound(name)
    return job


def export_status(user: Any, name: str) -> dict[str, Any]:
    """The job's state (queued, running, done, failed), step of steps, message, and its zip's name when done."""
    job = _job(user, name)
    status: dict[str, Any] = json.loads((job / "status.json").read_text())
    kind = name.split("-")[1]
    status.update(job=name, kind=kind, zip=f"iliad7-{kind}.zip" if status["state"] == "done" else None)
    return status


def export_zip(user: Any, name: str) -> Path:
    """The finished zip of the user's own job (NotFound otherwise)."""
    status = export_status(user, name)
    if status["zip"] is None:
        raise NotFound(name)
    return _folder(user) / name / str(status["zip"])


def export_jobs(user: Any) -> list[dict[str, Any]]:
    """The user's exports, newest first."""
    folder = _folder(user)
    if not may_export(user) or not folder.is_dir():
        return []
    names = sorted((p.name for p in folder.iterdir() if _JOB.match(p.name)), reverse=True)
    return [export_status(user, name) for name in names if (folder / name / "status.json").is_file()]
