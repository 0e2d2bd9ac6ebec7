"""The Secondary Infections Committee's page: every reported infection, blind, and the decision form."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods

from iliad7.accounts.roles import Capability
from iliad7.errors import InputError
from iliad7.inputs import MAX_INSTANCE, bounded_int
from iliad7.store import access
from iliad7.web.views import CHANNEL, page


@page
@require_http_methods(["GET", "POST"])
def infections(request: HttpRequest) -> HttpResponse:
    """The list with a decision form per infection; POST records one decision."""
    from iliad7.store.actions.adjudication import DECISIONS, adjudicate_infection, reported_infections

    user: Any = request.user
    access.require(user, Capability.ADJUDICATE_INFECTION)
    errors: dict[str, str] = {}
    typed: dict[str, str] = {}
    status = 200
    if request.method == "POST":
        typed = {k: request.POST.get(k, "") for k in ("screening_number", "instance", "decision", "rationale")}
        try:
            instance = bounded_int("instance", typed["instance"], 1, MAX_INSTANCE, what="the infection's number")
            participant = access.access_participant(
                user, typed["screening_number"].strip(), Capability.ADJUDICATE_INFECTION
            )
            adjudicate_infection(
                participant,
                instance,
                decision=typed["decision"],
                rationale=typed["rationale"],
                acting_user=user,
                channel=CHANNEL,
            )
        except InputError as exc:
            errors[exc.field] = exc.message
            status = 400
        else:
            messages.success(
                request, f"Decision recorded for {typed['screening_number']} infection #{typed['instance']}."
            )
            return redirect("web:infections")
    rows = reported_infections(user)
    context = {
        "rows": rows,
        "decisions": DECISIONS,
        "errors": errors,
        "typed": typed,
        "pending": sum(1 for r in rows if r.decision is None),
    }
    return render(request, "iliad7/web/infections.html", context, status=status)
