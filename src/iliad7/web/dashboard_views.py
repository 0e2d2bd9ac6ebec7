"""The record-status dashboard (issue 17): participants by visit, each cell the state of the visit's forms.

As REDCap's Record Status Dashboard: a row per participant the user sees, a column per visit of the
schedule, each cell not started / incomplete / complete / open query / SDV'd / signed / locked
(`iliad7.schedule.completion.cell_state`), filtered by site, participant status, visit and cell
state, searched by screening number. Everything is read in a fixed number of queries (plus one per
signed casebook, to check that its signature still holds); nothing
here reads the arm, and the open-query state is shown only where the user sees queries.
"""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from iliad7.accounts.roles import Capability
from iliad7.protocol import load_protocol
from iliad7.schedule import CELL_STATES, cell_state, visit_forms
from iliad7.store import access
from iliad7.web import navigation
from iliad7.web.views import _user, page

MAX_SEARCH = 64


@page
def dashboard(request: HttpRequest) -> HttpResponse:
    """Participants x visits, each cell the state of the visit's forms; filters in the query string."""
    from iliad7.store.actions.capture import CASEBOOK_MEANING
    from iliad7.store.actions.signatures import verify_signature
    from iliad7.store.models import DataQuery, ItemValue, ReviewEvent, Signature

    user = _user(request)
    navigation.require(user, "dashboard")
    protocol = load_protocol()
    forms = visit_forms(protocol)
    visits = [v for v in protocol.schedule.visits]
    sites = list(access.visible_sites(user))
    chosen = {
        "site": request.GET.get("site", "").strip(),
        "status": request.GET.get("status", "").strip(),
        "visit": request.GET.get("visit", "").strip(),
        "state": request.GET.get("state", "").strip(),
        "q": request.GET.get("q", "").strip()[:MAX_SEARCH],
    }
    participants = access.visible_participants(user).order_by("screening_number")
    if chosen["site"]:
        participants = participants.filter(site__code=chosen["site"])
    if chosen["status"]:
        participants = participants.filter(status=chosen["status"])
    if chosen["q"]:
        participants = participants.filter(screening_number__icontains=chosen["q"])
    rows_of = list(participants)
    ids = [p.pk for p in rows_of]
    shown_visits = [v for v in visits if not chosen["visit"] or v.id == chosen["visit"]]

    saved: set[tuple[int, str, str]] = set(
        ItemValue.objects.filter(participant_id__in=ids)
        .exclude(visit="")
        .values_list("participant_id", "visit", "form")
        .distinct()
    )
    query_sites = set(access.visible_sites(user, Capability.VIEW_QUERIES).values_list("pk", flat=True))
    queried: set[tuple[int, str]] = set(
        DataQuery.objects.filter(participant_id__in=ids, participant__site_id__in=query_sites)
        .exclude(status="closed")
        .values_list("participant_id", "visit")
    )
    flags: dict[tuple[int, str, str, str], bool] = {}
    for participant_id, kind, form, visit, value in (
        ReviewEvent.objects.filter(participant_id__in=ids, instance=1)
        .order_by("at", "id")
        .values_list("participant_id", "kind", "form", "visit", "value")
    ):
        flags[(participant_id, kind, form, visit)] = value  # the latest event of each flag holds
    numbers = {p.screening_number: p.pk for p in rows_of}
    # A casebook is signed while its latest signature still binds the casebook's content: a change
    # after the signature (a new item version, a status change) breaks it and the visit is no longer
    # shown as signed. Only signed participants are verified, one query each.
    latest: dict[str, Any] = {}
    for signature in (
        Signature.objects.filter(target_type="participant", meaning=CASEBOOK_MEANING, target_id__in=list(numbers))
        .select_related("signer")
        .order_by("signed_at", "id")
    ):
        latest[signature.target_id] = signature
    signed = {numbers[n] for n, signature in latest.items() if verify_signature(signature).ok}

    rows: list[dict[str, Any]] = []
    for participant in rows_of:
        pk = participant.pk
        cells = []
        for visit in shown_visits:
            ids_ = forms[visit.id]
            state = cell_state(
                ids_,
                {f for f in ids_ if (pk, visit.id, f) in saved},
                queried=(pk, visit.id) in queried,
                verified={f for f in ids_ if flags.get((pk, "sdv", f, visit.id))},
                locked={f for f in ids_ if flags.get((pk, "form_lock", f, visit.id))},
                casebook_signed=pk in signed,
                casebook_locked=bool(flags.get((pk, "casebook_lock", "", ""))),
            )
            missing = [f for f in ids_ if (pk, visit.id, f) not in saved]
            cells.append({"visit": visit, "state": state, "missing": missing})
        if chosen["state"] and not any(c["state"] == chosen["state"] for c in cells):
            continue
        rows.append({"participant": participant, "cells": cells})
    statuses = sorted({s for s in access.visible_participants(user).values_list("status", flat=True)})
    context = {
        "rows": rows,
        "visits": shown_visits,
        "all_visits": visits,
        "sites": sites,
        "statuses": statuses,
        "states": CELL_STATES,
        "chosen": chosen,
    }
    return render(request, "iliad7/web/dashboard.html", context)
