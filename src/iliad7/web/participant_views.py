"""The participant's page in sections: overview, calendar, doses and data, each its own address.

The page used to be one 30,000-pixel page (criteria, calendar, doses, every value with every version).
Each section is now loaded on its own (a full page without JavaScript; with HTMX the section tabs
swap only the section). A refused dose, dose correction or value is shown again with what was typed
and the message beside its field (status 400), never a jump to the top of an emptied form. Like every
page here, nothing reads or shows a treatment arm.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from django.contrib import messages
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse, HttpResponseBase
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_http_methods, require_POST

from iliad7.accounts.roles import Capability
from iliad7.errors import AccessDenied, ActionRefused, Iliad7Error, InputError, NotFound
from iliad7.inputs import DB_INT_MAX, MAX_INSTANCE, bounded_int
from iliad7.store import access, actions
from iliad7.web import reads
from iliad7.web.participant_tabs import tab_context
from iliad7.web.views import CHANNEL, _decimal, _participant, _refusal, _user, _utc, page

ROWS_PER_PAGE = 100  # values on one page of the Data section (a finished casebook holds ~500)


# ---------------------------------------------------------------- overview


@page
def overview(request: HttpRequest, screening_number: str) -> HttpResponse:
    """Who the participant is, where they are in the trial, their screening verdict and consents."""
    user = _user(request)
    participant = _participant(request, screening_number)
    site = participant.site
    _record, saved = reads.screening_data(participant)
    can_screen = access.can(user, Capability.SCREEN_PARTICIPANT, site)
    tasks = []
    if can_screen:
        tasks = [t for t in actions.open_reconsent_tasks(user) if t.participant.pk == participant.pk]
    visits = reads.full_calendar(participant).visits if participant.usubjid else []
    context = {
        **tab_context(participant, user, "overview"),
        "screening": reads.saved_verdict(saved),
        "saved_screening": saved,
        "consents": actions.consents_of(participant),
        "randomization": actions.randomization_of(participant),
        "doses_given": len(actions.doses_given(participant)) if participant.usubjid else 0,
        "visit_counts": _visit_counts(visits),
        "next_visit": next((v for v in visits if v.status in ("due", "overdue", "upcoming")), None),
        "can_screen": can_screen,
        "can_consent": access.can(user, Capability.RECORD_CONSENT, site),
        "can_randomize": access.can(user, Capability.RANDOMIZE, site),
        "can_unblind": access.can(user, Capability.UNBLIND, site) and bool(participant.usubjid),
        "reconsent_tasks": tasks,
    }
    return render(request, "iliad7/web/participant.html", context)


def _visit_counts(visits: list[Any]) -> list[tuple[str, int]]:
    counts: dict[str, int] = {}
    for v in visits:
        counts[v.status] = counts.get(v.status, 0) + 1
    return sorted(counts.items())


# ---------------------------------------------------------------- doses


def _dose_rows(doses: list[Any]) -> list[dict[str, Any]]:
    """The doses given, with the injection site and local reaction by their STUDY-DRUG labels."""
    labels = {name: {c.code: c.label for c in choices} for name, choices in _dose_choices().items()}
    return [
        {
            "dose": d,
            "injection_site": labels["injection_site"].get(d.injection_site, d.injection_site),
            "local_reaction": labels["local_reaction"].get(d.local_reaction, d.local_reaction),
        }
        for d in doses
    ]


def _dose_choices() -> dict[str, Any]:
    """The STUDY-DRUG form's injection sites and local reactions, for the dose-recording form."""
    from iliad7.protocol import load_protocol

    form = load_protocol().form("STUDY-DRUG")
    return {name: form.item(name).choices for name in ("injection_site", "local_reaction")}


_DOSE_FIELDS = ("dose_number", "given_at", "injection_site", "volume_ml", "local_reaction")
_CORRECTION_FIELDS = (*_DOSE_FIELDS, "reason")  # never the password or the code: they are typed again


def _doses_page(
    request: HttpRequest,
    participant: Any,
    *,
    typed: dict[str, str] | None = None,
    errors: dict[str, str] | None = None,
    correction: dict[str, str] | None = None,
    correction_errors: dict[str, str] | None = None,
    status: int = 200,
) -> HttpResponse:
    user = _user(request)
    site = participant.site
    doses = _dose_rows(actions.doses_given(participant)) if participant.usubjid else []
    context = {
        **tab_context(participant, user, "doses"),
        "doses": doses,
        "syringes": reads.syringes(participant) if participant.usubjid else [],
        "can_dose": access.can(user, Capability.RECORD_DOSE, site) and bool(participant.usubjid),
        "can_correct_dose": access.can(user, Capability.RECORD_DOSE, site)
        and access.can(user, Capability.SIGN_CASEBOOK, site)
        and bool(doses),
        "dose_choices": _dose_choices(),
        "typed": typed or {"local_reaction": "none"},
        "errors": errors or {},
        "correction": correction or {},
        "correction_errors": correction_errors or {},
    }
    return render(request, "iliad7/web/participant_doses.html", context, status=status)


def _field_errors(exc: Iliad7Error, fields: tuple[str, ...]) -> dict[str, str]:
    """The refusal beside its field when it names one of the form's fields; otherwise above the form."""
    field = getattr(exc, "field", "")
    message = str(getattr(exc, "message", "") or exc).removeprefix(f"{field}: ")
    return {field: message} if field in fields else {"general": _refusal(exc)}


@page
@require_http_methods(["GET", "POST"])
def doses(request: HttpRequest, screening_number: str) -> HttpResponseBase:
    """The doses given and the syringes prepared; site staff record a dose given at the bedside."""
    participant = _participant(request, screening_number)
    if request.method == "GET":
        return _doses_page(request, participant)
    post = request.POST
    typed = {name: post.get(name, "").strip() for name in _DOSE_FIELDS}
    try:
        number = bounded_int("dose_number", typed["dose_number"], 1, DB_INT_MAX, what="the dose number")
        actions.record_dose_given(
            participant,
            number,
            given_at=_utc(typed["given_at"], "given_at"),
            injection_site=typed["injection_site"],
            volume_ml=_decimal(typed["volume_ml"], "volume_ml"),
            local_reaction=typed["local_reaction"] or "none",
            acting_user=_user(request),
            channel=CHANNEL,
        )
    except (AccessDenied, NotFound):
        raise
    except Iliad7Error as exc:
        messages.error(request, f"Dose not recorded: {_refusal(exc)}")
        return _doses_page(request, participant, typed=typed, errors=_field_errors(exc, _DOSE_FIELDS), status=400)
    messages.success(request, f"Dose {number} recorded.")
    # The fragment: back at the doses (the browser would otherwise keep the form's own).
    return redirect(reverse("web:doses", args=[screening_number]) + "#dose-h")


@page
@require_POST
def dose_correct(request: HttpRequest, screening_number: str) -> HttpResponseBase:
    """A signed correction of a dose given (the site's investigator): a new version with its reason."""
    participant = _participant(request, screening_number)
    post = request.POST
    typed = {name: post.get(name, "").strip() for name in _CORRECTION_FIELDS}
    try:
        number = bounded_int("dose_number", typed["dose_number"], 1, 7, what="the dose number")
        actions.correct_dose(
            participant,
            number,
            reason=typed["reason"],
            password=post.get("password", ""),
            otp_token=post.get("otp_token", ""),
            acting_user=_user(request),
            channel=CHANNEL,
            given_at=_utc(typed["given_at"], "given_at") if typed["given_at"] else None,
            injection_site=typed["injection_site"] or None,
            volume_ml=_decimal(typed["volume_ml"], "volume_ml") if typed["volume_ml"] else None,
            local_reaction=typed["local_reaction"] or None,
            source=request,
        )
    except (AccessDenied, NotFound):
        raise
    except Iliad7Error as exc:
        messages.error(request, f"Dose not corrected: {_refusal(exc)}")
        errors = _field_errors(exc, (*_CORRECTION_FIELDS, "password", "otp_token"))
        return _doses_page(request, participant, correction=typed, correction_errors=errors, status=400)
    messages.success(request, f"Dose {number} corrected and signed.")
    return redirect(reverse("web:doses", args=[screening_number]) + "#dose-h")


# ---------------------------------------------------------------- data

_VALUE_FIELDS = ("form", "visit", "item", "value", "unit", "instance", "reason")


def _data_page(
    request: HttpRequest,
    participant: Any,
    *,
    typed: dict[str, str] | None = None,
    errors: dict[str, str] | None = None,
    status: int = 200,
) -> HttpResponse:
    """Every value with its versions, filtered by form and visit, a page of `ROWS_PER_PAGE` at a time."""
    user = _user(request)
    rows = reads.items_with_history(participant)
    forms = sorted({r.form for r in rows})
    visits = sorted({r.visit for r in rows if r.visit})
    chosen_form = request.GET.get("form", "").strip()
    chosen_visit = request.GET.get("visit", "").strip()
    shown = [
        r for r in rows if (not chosen_form or r.form == chosen_form) and (not chosen_visit or r.visit == chosen_visit)
    ]
    page_obj = Paginator(shown, ROWS_PER_PAGE).get_page(request.GET.get("page"))  # a bad page number: the nearest
    filters = {k: v for k, v in (("form", chosen_form), ("visit", chosen_visit)) if v}
    context = {
        **tab_context(participant, user, "data"),
        "page_obj": page_obj,
        "total": len(shown),
        "forms": forms,
        "visits": visits,
        "chosen_form": chosen_form,
        "chosen_visit": chosen_visit,
        "filter_query": urlencode(filters),
        "protocol_forms": _protocol_forms(),
        "can_record": access.can(user, Capability.RECORD_DATA, participant.site),
        "typed": typed or {"instance": "1"},
        "errors": errors or {},
    }
    return render(request, "iliad7/web/participant_data.html", context, status=status)


def _protocol_forms() -> list[Any]:
    from iliad7.protocol import load_protocol

    return list(load_protocol().forms)


@page
def data(request: HttpRequest, screening_number: str) -> HttpResponse:
    return _data_page(request, _participant(request, screening_number))


@page
@require_POST
def item_record(request: HttpRequest, screening_number: str) -> HttpResponseBase:
    """Record or correct one value (the form's checks and derived values apply, as on the form page)."""
    from iliad7.store.actions.items import record_form_item

    participant = _participant(request, screening_number)
    post = request.POST
    typed = {name: post.get(name, "").strip() for name in _VALUE_FIELDS}
    try:
        instance = bounded_int("instance", typed["instance"] or "1", 1, MAX_INSTANCE)
        record_form_item(
            participant,
            form=typed["form"],
            item=typed["item"],
            value=post.get("value", ""),
            unit=typed["unit"],
            visit=typed["visit"],
            instance=instance,
            acting_user=_user(request),
            channel=CHANNEL,
            reason=post.get("reason", ""),
        )
    except (InputError, ActionRefused) as exc:
        messages.error(request, _refusal(exc))
        return _data_page(request, participant, typed=typed, errors=_field_errors(exc, _VALUE_FIELDS), status=400)
    messages.success(request, "Value recorded.")
    shown = urlencode({"form": typed["form"], "visit": typed["visit"]} if typed["visit"] else {"form": typed["form"]})
    return redirect(f"{reverse('web:participant-data', args=[screening_number])}?{shown}#items-h")
