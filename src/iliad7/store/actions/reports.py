"""The SAP analyses and the DSMB report of the trial database, for what one user may see (issue 7).

`write_trial_report(user, out)` takes one guarded snapshot of the database (site scoping and
blinding of the user applied), builds the SDTM domains and from them the SAP's datasets
(`iliad7.standards.analysis_data`), runs every SAP analysis and writes report.html, report.pdf,
ard.json, provenance.json and the datasets into `out`.

- The open report (pooled) is computed from data with every arm removed, whoever asks: the
  blinded and the unblinded reader get the same open report.
- The closed report (by arm) is only for a user who may read every reported participant's arm:
  the unblinded statistician, or a DSMB member in closed session (`closed_session=True`, honoured
  only while a closed session the unblinded statistician scheduled for that member is open:
  `iliad7.store.actions.dsmb`).
- Writing a report is audited (`report.written`) with a keyed digest of the snapshot
  (`snapshot_hmac_sha256`: HMAC-SHA-256 of its SHA-256 under the blinding key, which lives
  outside the database) and the plain hash of the data without arms (`without_arms_sha256`;
  for an open report, its snapshot hash), never the arm and never a plain hash of data holding
  arms: a closed report's datasets hold the arms, and their plain hash, in the trail a blinded
  data manager reads, would let anyone holding the blinded data try every arm vector until the
  hash matched. The plain hash stays in the report's own provenance.json, in the reader's folder.
  Reading a closed report back is an audited read (`read.closed_report`, `iliad7.web.report_views`).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from django.db import transaction

from iliad7.accounts.roles import Capability, can_see_arm
from iliad7.audit import trail
from iliad7.errors import AccessDenied, ActionRefused
from iliad7.store import access, blinding_key
from iliad7.store.actions._common import check_channel
from iliad7.store.models import User


@dataclass(frozen=True)
class TrialReport:
    closed: bool
    paths: dict[str, Path]
    participants: int
    fallbacks: tuple[str, ...]
    snapshot_sha256: str  # for the reader; the audit trail keeps only `snapshot_hmac(...)`


REPORT_DIGEST_PURPOSE = "report snapshot"


def snapshot_hmac(snapshot_sha256: str) -> str:
    """The keyed digest of a report snapshot's SHA-256, as the audit trail records it."""
    return blinding_key.keyed_digest(REPORT_DIGEST_PURPOSE, snapshot_sha256.encode("ascii"))


def may_see_closed_report(user: User, *, closed_session: bool = False) -> bool:
    """Whether one of `user`'s report-reading roles may read the arm (the DSMB only in a scheduled closed
    session that is open now and admits them: asking with `closed_session=True` is not enough)."""
    roles = access.granting_roles(user, Capability.VIEW_REPORTS, None)
    return can_see_arm(roles, closed_session=closed_session and access.in_closed_session(user))


def _reader(user: User, role: str, *, in_session: bool) -> str:
    """Whom a report is for, as its title says: "the DSMB in closed session (bob)", "the unblinded statistician
    ann", "the data manager dan" (the roles that let the user read reports)."""
    from iliad7.accounts.roles import ROLES

    if in_session:
        return f"the DSMB in closed session ({user.username})"
    titles = [ROLES[name].title for name in role.split(",") if name in ROLES]
    titles = [t if t[:2].isupper() else t[:1].lower() + t[1:] for t in titles]  # "DSMB member" keeps its capitals
    return f"the {' and '.join(titles) or 'reader'} {user.username}"


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
            "statistician and for DSMB members in closed session (one the unblinded statistician scheduled "
            "for them, open now)"
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
    in_session = closed_session and access.in_closed_session(user)
    paths = write_report(
        out, data, results, consort, closed=closed, source=source, reader=_reader(user, role, in_session=in_session)
    )
    digest = snapshot_hash(data)
    blinded_digest = digest if not closed else snapshot_hash(without_arms(data))
    with transaction.atomic():
        trail.append(
            actor=user.username,
            role=role,
            channel=channel,
            action="report.written",
            object_type="report",
            object_id=kind,
            new={"report": kind, "closed_session": in_session,
                 "participants": data.adsl.height,
                 "snapshot_hmac_sha256": snapshot_hmac(digest), "blinding_key": blinding_key.key_id(),
                 "without_arms_sha256": blinded_digest},
        )  # fmt: skip
    # Without arms every contrast "falls back"; only the closed report's fallbacks mean something.
    fallbacks = tuple(r.analysis_id for r in results if r.fallback) if closed else ()
    return TrialReport(closed, paths, data.adsl.height, fallbacks, digest)
