"""The coordinator's worklist of EHR candidates (`iliad7 prescreen --load`), a candidate's page, and
the button that starts a screening record prefilled from the EHR. Every read is an audited action
(identifiable patient data); the pages only call the actions of `iliad7.store.actions.prescreen`."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.http import HttpRequest, HttpResponse, HttpResponseBase
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from iliad7.accounts.roles import Capability
from iliad7.errors import ActionRefused
from iliad7.store import access
from iliad7.web import screening_form
from iliad7.web.views import CHANNEL, page


def _left_to_check(candidate: Any) -> list[dict[str, Any]]:
    return [c for c in candidate.criteria if c["status"] == "unknown"]


@page
def worklist(request: HttpRequest) -> HttpResponse:
    """The candidates of the user's sites, fewest criteria left to check first."""
    from iliad7.store.actions.prescreen import read_worklist

    user: Any = request.user
    lists = read_worklist(user, channel=CHANNEL)
    for entry in lists:
        entry["rows"] = [{"candidate": c, "left": _left_to_check(c)} for c in entry["candidates"]]
    may_screen = access.visible_sites(user, Capability.SCREEN_PARTICIPANT).exists()
    return render(request, "iliad7/web/prescreen.html", {"lists": lists, "may_screen": may_screen})


@page
def candidate(request: HttpRequest, candidate_id: int) -> HttpResponse:
    """One candidate: every criterion, the values read from the EHR and where each came from."""
    from iliad7.store.actions.prescreen import read_candidate

    user: Any = request.user
    found = read_candidate(user, candidate_id, channel=CHANNEL)
    typed = screening_form.typed_from_record(found.record)
    labels = {spec.path: spec.label for spec in screening_form.all_fields()}
    values = []
    for path, text in typed.items():
        generic = ".".join(p for p in path.split(".") if not p.isdigit())
        source_key = path
        parts = path.split(".")
        if len(parts) > 2 and parts[1].isdigit():  # alc.0.value -> alc[0]
            source_key = f"{parts[0]}[{parts[1]}]"
        values.append({"field": path, "label": labels.get(path, labels.get(generic, path)), "value": text,
                       "source": found.sources.get(source_key, found.sources.get(path, ""))})  # fmt: skip
    context = {
        "candidate": found,
        "values": values,
        "left": _left_to_check(found),
        "may_screen": access.can(user, Capability.SCREEN_PARTICIPANT, found.run.site),
        "started": getattr(found, "start", None),
    }
    return render(request, "iliad7/web/prescreen_candidate.html", context)


@page
@require_POST
def start(request: HttpRequest, candidate_id: int) -> HttpResponseBase:
    """Create the participant and their first screening record from the candidate's EHR values."""
    from iliad7.store.actions.prescreen import start_screening

    try:
        started = start_screening(request.user, candidate_id, channel=CHANNEL)  # type: ignore[arg-type]
    except ActionRefused as exc:
        messages.error(request, str(exc))
        return redirect("web:prescreen-candidate", candidate_id=candidate_id)
    number = started.participant.screening_number
    messages.success(request, f"{number} created; its screening record is prefilled from the EHR. Check each value.")
    return redirect("web:screening", screening_number=number)
