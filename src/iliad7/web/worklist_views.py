"""The coordinator's worklist (issue 17): what needs doing today, across the participants the user sees.

Visits due and overdue (the honest calendar, `reads.calendars`), queries waiting on the user, SAE
reporting clocks still running and re-consents due. Read-only and arm-free: every list comes from
the store's access-checked readers, and nothing here reads the arm.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from iliad7.accounts.roles import Capability
from iliad7.schedule import VisitState
from iliad7.store import access, actions
from iliad7.web import navigation, reads
from iliad7.web.capture_views import form_url
from iliad7.web.views import _user, page

if TYPE_CHECKING:
    from iliad7.store.models import DataQuery, User

# Participants whose follow-up has ended have no visits to do.
_FOLLOWED = ("randomized", "on_treatment")


def queries_awaiting(user: User) -> list[DataQuery]:
    """Queries waiting on `user`: open ones at the sites where they answer, answered ones where they close."""
    answers = set(access.visible_sites(user, Capability.ANSWER_QUERY).values_list("pk", flat=True))
    closes = set(access.visible_sites(user, Capability.RAISE_QUERY).values_list("pk", flat=True))
    return [
        q
        for q in actions.open_queries(user)
        if (q.status == "open" and q.participant.site_id in answers)
        or (q.status == "answered" and q.participant.site_id in closes)
    ]


def running_sae_clocks(user: User) -> list[Any]:
    """SAE clocks not yet stopped by a report, for whoever may open the SAE clocks page."""
    if not navigation.allowed(user, "sae-clocks"):
        return []
    return [c for c in actions.sae_clocks(user) if c.open]


def nav_counts(user: User) -> dict[str, int]:
    """The counts beside the navigation links: queries waiting on the user, SAE clocks running."""
    counts: dict[str, int] = {}
    if navigation.allowed(user, "queries"):
        counts["queries"] = len(queries_awaiting(user))
    if navigation.allowed(user, "sae-clocks"):
        counts["sae-clocks"] = len(running_sae_clocks(user))
    return counts


@page
def worklist(request: HttpRequest) -> HttpResponse:
    """Due today, overdue, queries waiting on me, SAE clocks running, re-consents due."""
    user = _user(request)
    navigation.require(user, "worklist")
    participants = list(
        access.visible_participants(user)
        .filter(status__in=_FOLLOWED)
        .select_related("site")
        .order_by("screening_number")
    )
    plans = reads.calendars(participants)
    due, overdue = [], []
    for participant in participants:
        for visit in plans[participant.pk].visits:
            if visit.status not in (VisitState.DUE, VisitState.OVERDUE):
                continue
            progress = plans[participant.pk].progress.get(visit.visit)
            row = {
                "participant": participant,
                "visit": visit,
                "missing": progress.missing if progress is not None else (),
                "url": f"/participants/{participant.screening_number}/calendar/",
            }
            (due if visit.status is VisitState.DUE else overdue).append(row)
    overdue.sort(key=lambda r: r["visit"].last_date)
    due.sort(key=lambda r: r["visit"].target_date)
    queries = queries_awaiting(user) if navigation.allowed(user, "queries") else []
    query_rows = [
        {"query": q, "url": form_url(q.participant.screening_number, q.form, q.visit, q.instance)} for q in queries
    ]
    clocks = [
        {"clock": c, "url": form_url(c.screening_number, "ADVERSE-EVENT", "", c.instance)}
        for c in running_sae_clocks(user)
    ]
    reconsents = (
        actions.open_reconsent_tasks(user) if access.visible_sites(user, Capability.SCREEN_PARTICIPANT).exists() else []
    )
    context = {
        "due": due,
        "overdue": overdue,
        "queries": query_rows,
        "may_query": navigation.allowed(user, "queries"),
        "clocks": clocks,
        "may_clock": navigation.allowed(user, "sae-clocks"),
        "reconsents": reconsents,
    }
    return render(request, "iliad7/web/worklist.html", context)
