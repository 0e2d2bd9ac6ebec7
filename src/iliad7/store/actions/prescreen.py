"""The pre-screening worklist: load a run's candidates, read them (audited), start a screening from one.

A run of `iliad7 prescreen` judged every person of the hospital's EHR; its candidates (no failed
criterion) are what a site's coordinator works through, fewest criteria left to check first. They
are identifiable patient data: every read of the list and of a candidate appends an audit record
naming who read what. The list carries nothing about arms (it is made before anyone is
randomized), so blinded and unblinded roles see the same list; another site's list is not found.
Starting a screening creates the participant and saves the EHR values as the first version of
their screening record, the reason naming each value's source (as the FHIR pre-fill does).
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

from django.db import transaction

from iliad7.accounts.roles import Capability
from iliad7.audit import trail
from iliad7.errors import ActionRefused, InputError, NotFound
from iliad7.store import access
from iliad7.store.actions._common import check_channel, now
from iliad7.store.actions.reads import audit_read
from iliad7.store.models import PrescreenCandidate, PrescreenRun, PrescreenStart, Site, User

if TYPE_CHECKING:
    from django.db.models import QuerySet

    from iliad7.prescreen.run import Candidate, Summary


def load_prescreen_run(
    summary: Summary, candidates: list[Candidate], *, site: str, acting_user: User, channel: str
) -> PrescreenRun:
    """Put a run's candidates on `site`'s worklist; audited as `prescreen.load` (one record for the run)."""
    check_channel(channel)
    found = Site.objects.filter(code=site.strip().upper()).first()
    if found is None:
        raise InputError("site", f"unknown site {site!r}")
    role = access.require(acting_user, Capability.SCREEN_PARTICIPANT, found)
    as_of = datetime.fromisoformat(summary.as_of)
    with transaction.atomic():
        run = PrescreenRun.objects.create(
            site=found,
            as_of=as_of,
            source=summary.source[:500],
            engine=summary.engine,
            persons=summary.persons,
            candidate_count=len(candidates),
            summary=summary.as_dict(),
            loaded_by=acting_user,
            loaded_at=now(),
            channel=channel,
        )
        PrescreenCandidate.objects.bulk_create(
            PrescreenCandidate(
                run=run,
                person_id=c.person_id,
                verdict=c.verdict,
                unknown_count=len(c.unknown),
                unknown=list(c.unknown),
                criteria=c.criteria,
                record=c.record,
                sources=c.sources,
            )
            for c in candidates
        )
        trail.append(
            actor=acting_user.username,
            role=role,
            channel=channel,
            action="prescreen.load",
            object_type="prescreen_run",
            object_id=str(run.pk),
            new={"site": found.code, "as_of": summary.as_of, "persons": summary.persons,
                 "candidates": len(candidates), "source": run.source, "engine": summary.engine},
        )  # fmt: skip
    return run


def _worklist_sites(user: User) -> QuerySet[Site]:
    return access.visible_sites(user, Capability.VIEW_CANDIDATES)


def latest_runs(user: User) -> list[PrescreenRun]:
    """The latest loaded run of each site whose worklist the user may read."""
    runs = []
    for site in _worklist_sites(user):
        run = PrescreenRun.objects.filter(site=site).order_by("-loaded_at", "-id").first()
        if run is not None:
            runs.append(run)
    return runs


def read_worklist(user: User, *, channel: str) -> list[dict[str, Any]]:
    """The candidates of the latest run of each of the user's sites, fewest left to check first;
    audited as `read.candidate_list` (which run, which persons were shown)."""
    check_channel(channel)
    if not _worklist_sites(user).exists():
        raise access_denied(user)
    lists = []
    with transaction.atomic():
        for run in latest_runs(user):
            role = access.require(user, Capability.VIEW_CANDIDATES, run.site)
            shown = run.candidates.select_related("start__participant").order_by("unknown_count", "person_id")
            candidates = list(shown)
            audit_read(
                user, "candidate_list", str(run.pk), channel=channel, role=role,
                detail={"site": run.site.code, "persons_shown": [c.person_id for c in candidates]},
            )  # fmt: skip
            lists.append({"run": run, "candidates": candidates})
    return lists


def access_denied(user: User) -> Exception:
    from iliad7.errors import AccessDenied

    return AccessDenied(f"user {user.username!r} has no role that allows {Capability.VIEW_CANDIDATES.value}")


def _candidate(user: User, candidate_id: int) -> PrescreenCandidate:
    """The candidate if the user may read its site's worklist; NotFound alike for missing and forbidden."""
    candidate = (
        PrescreenCandidate.objects.select_related("run__site")
        .filter(pk=candidate_id, run__site__in=_worklist_sites(user))
        .first()
    )
    if candidate is None:
        raise NotFound(f"no candidate {candidate_id} visible to {user.username!r}")
    return candidate


def read_candidate(user: User, candidate_id: int, *, channel: str) -> PrescreenCandidate:
    """One candidate with its EHR values and their sources; audited as `read.candidate`."""
    check_channel(channel)
    candidate = _candidate(user, candidate_id)
    role = access.require(user, Capability.VIEW_CANDIDATES, candidate.run.site)
    audit_read(
        user, "candidate", f"{candidate.run_id}/{candidate.person_id}", channel=channel, role=role,
        detail={"site": candidate.run.site.code, "person_id": candidate.person_id},
    )  # fmt: skip
    return candidate


def start_screening(user: User, candidate_id: int, *, channel: str) -> PrescreenStart:
    """Create the participant and save the EHR values as their first screening record, each value's source
    in the reason; audited (`participant.create`, `screening.save`, `prescreen.start`), all in one transaction."""
    from iliad7.store.actions.participants import create_participant
    from iliad7.store.actions.screening import save_screening

    check_channel(channel)
    candidate = _candidate(user, candidate_id)
    site = candidate.run.site
    role = access.require(user, Capability.SCREEN_PARTICIPANT, site)
    with transaction.atomic():
        locked = PrescreenCandidate.objects.select_for_update().get(pk=candidate.pk)
        if PrescreenStart.objects.filter(candidate=locked).exists():
            raise ActionRefused(f"a screening was already started from candidate {locked.person_id} of this run")
        participant = create_participant(site=site, acting_user=user, channel=channel)
        sources = "; ".join(f"{field}: {where}" for field, where in sorted(locked.sources.items()))
        reason = (
            f"prefilled from the EHR (OMOP pre-screening run {locked.run_id} at {locked.run.as_of.isoformat()}, "
            f"person {locked.person_id}): {sources}"
        )
        save_screening(participant, dict(locked.record), acting_user=user, channel=channel, reason=reason)
        start = PrescreenStart.objects.create(
            candidate=locked, participant=participant, started_by=user, started_at=now()
        )
        trail.append(
            actor=user.username, role=role, channel=channel, action="prescreen.start",
            object_type="prescreen_candidate", object_id=f"{locked.run_id}/{locked.person_id}",
            new={"participant": participant.screening_number, "sources": locked.sources},
        )  # fmt: skip
    return start
