"""The SAP analyses and the DSMB report of the trial database, for what one user may see (issue 7).

`write_trial_report(user, out)` takes one guarded snapshot of the database (site scoping and
blinding of the user applied), builds the SDTM domains and from them the SAP's datasets
(`iliad7.standards.analysis_data`), runs every SAP analysis and writes report.html, report.pdf,
ard.json, provenance.json and the datasets into `out`.

- The open report (pooled) is computed from data with every arm removed, whoever asks: the
  blinded and the unblinded reader get the same open report.
- The closed report (by arm) is only for a user who may read every reported participant's arm:
  the unblinded statistician, or a DSMB member in closed session (`closed_session=True`, the
  caller's statement that the DSMB sits closed, audited as such).
- Writing a report is audited (`report.written`) with the snapshot hash; never the arm.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from django.db import transaction

from iliad7.accounts.roles import Capability, can_see_arm
from iliad7.audit import trail
from iliad7.errors import AccessDenied, ActionRefused
from iliad7.store import access
from iliad7.store.actions._common import check_channel
from iliad7.store.models import User


@dataclass(frozen=True)
class TrialReport:
    closed: bool
    paths: dict[str, Path]
    participants: int
    fallbacks: tuple[str, ...]
    snapshot_sha256: str


def may_see_closed_report(user: User, *, closed_session: bool = False) -> bool:
    """Whether one of `user`'s report-reading roles may read the arm (the DSMB only in closed session)."""
    roles = access.granting_roles(user, Capability.VIEW_REPORTS, None)
    return can_see_arm(roles, closed_session=closed_session)


def _screening_log(user: User) -> list[tuple[str, list[str], list[str]]]:
    from iliad7.store.actions import latest_screening

    log = []
    for participant in access.visible_participants(user).order_by("screening_number"):
        screening = latest_screening(participant)
        if screening is None:
            continue
        log.append((screening.verdict, list(screening.failed), list(screening.unknown)))
    return log


def write_trial_report(
    user: User,
    out: Path,
    *,
    closed: bool | None = None,
    closed_session: bool = False,
    channel: str,
) -> TrialReport:
    """Analyse the database as `user` may see it and write the open or closed report into `out`.

    `closed=None` gives what the user may see: the closed report to a user who may read the arm,
    the open one to everyone else. `closed=True` for a user who may not is refused (AccessDenied).
    """
    from iliad7.analysis.analyses import run_all
    from iliad7.analysis.ard import snapshot_hash
    from iliad7.analysis.consort import consort_counts
    from iliad7.analysis.report import without_arms, write_report
    from iliad7.standards.analysis_data import analysis_data
    from iliad7.standards.sdtm import build_sdtm
    from iliad7.standards.snapshot import read_snapshot

    check_channel(channel)
    role = access.require(user, Capability.VIEW_REPORTS)
    allowed = may_see_closed_report(user, closed_session=closed_session)
    if closed is None:
        closed = allowed
    if closed and not allowed:
        raise AccessDenied(
            f"user {user.username!r} may not see the closed report (by arm): it is for the unblinded "
            "statistician and for DSMB members in closed session"
        )
    snapshot = read_snapshot(user, closed_session=closed_session and closed)
    if closed and snapshot.blinded:
        raise ActionRefused("closed report refused: the arm of some participants cannot be read by this user")
    data = analysis_data(snapshot, build_sdtm(snapshot))
    if not closed:
        data = without_arms(data)
    consort = consort_counts(_screening_log(user), data)
    results = run_all(data)
    kind = "closed" if closed else "open"
    source = f"trial database snapshot of {snapshot.taken_at.isoformat()} for {user.username}"
    paths = write_report(out, data, results, consort, closed=closed, source=source)
    digest = snapshot_hash(data)
    with transaction.atomic():
        trail.append(
            actor=user.username,
            role=role,
            channel=channel,
            action="report.written",
            object_type="report",
            object_id=kind,
            new={"report": kind, "closed_session": closed_session, "participants": data.adsl.height,
                 "snapshot_sha256": digest},
        )  # fmt: skip
    # Without arms every contrast "falls back"; only the closed report's fallbacks mean something.
    fallbacks = tuple(r.analysis_id for r in results if r.fallback) if closed else ()
    return TrialReport(closed, paths, data.adsl.height, fallbacks, digest)
