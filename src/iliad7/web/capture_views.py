"""Daily data capture pages (issue 5): calendar, eCRFs, queries, SDV, locks, casebook signature, SAE clocks.

Thin like `iliad7.web.views`: a participant is reached only through
`access_participant`, a query only through its participant
(`reads.access_query`), and every write is one store action with channel
`web`, which checks the role again and writes the audit record. Nothing here
reads the arm.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from urllib.parse import urlencode

from django.contrib import messages
from django.http import HttpRequest, HttpResponse, HttpResponseBase
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_http_methods, require_POST

from iliad7.accounts.roles import Capability
from iliad7.capture import form_spec
from iliad7.errors import AccessDenied, Iliad7Error, InputError, ReauthenticationFailed, TooManyAttempts
from iliad7.inputs import MAX_INSTANCE, bounded_int
from iliad7.protocol import load_protocol
from iliad7.store import access, actions
from iliad7.web import ecrf, reads
from iliad7.web.participant_tabs import tab_context
from iliad7.web.views import CHANNEL, _participant, _refusal, _user, page


def _instance(text: str | None) -> int:
    return bounded_int("instance", (text or "1").strip() or "1", 1, MAX_INSTANCE)


def form_url(screening_number: str, form_id: str, visit: str = "", instance: int = 1) -> str:
    query = {k: v for k, v in (("visit", visit), ("instance", str(instance))) if v}
    return reverse("web:form", args=[screening_number, form_id]) + "?" + urlencode(query)


def _back_to_form(screening_number: str, form_id: str, post: Any) -> HttpResponseBase:
    try:
        instance = _instance(post.get("instance"))
    except InputError:
        instance = 1
    return redirect(form_url(screening_number, form_id, post.get("visit", ""), instance))


# ---------------------------------------------------------------- calendar


@page
def calendar(request: HttpRequest, screening_number: str) -> HttpResponse:
    """The visit calendar (target day, window, status) and the dose plan, with the forms due at each visit."""
    user = _user(request)
    participant = _participant(request, screening_number)
    plan = reads.full_calendar(participant)
    protocol = load_protocol()
    by_visit: dict[str, list[Any]] = {}
    event_forms, daily_forms = [], []
    for form in protocol.forms:
        spec = form_spec(protocol, form.id)
        if form.repeat == "event":
            event_forms.append(form)
            continue
        if form.repeat == "daily":
            daily_forms.append(form)
        for visit in spec.visits:
            by_visit.setdefault(visit.id, []).append(form)
    saved = reads.saved_forms(participant)
    number = participant.screening_number
    rows = [
        {
            "visit": v,
            "forms": [
                {"form": f, "url": form_url(number, f.id, v.visit), "saved": (v.visit, 1) in saved.get(f.id, [])}
                for f in by_visit.get(v.visit, [])
            ],
        }
        for v in plan.visits
    ]
    events = []
    for form in event_forms + daily_forms:
        entries = [e for e in saved.get(form.id, []) if form.repeat == "event" or not e[0]]
        following = max((i for _, i in entries), default=0) + 1
        events.append(
            {
                "form": form,
                "entries": [
                    {"label": f"#{i}" + (f" at {v}" if v else ""), "url": form_url(number, form.id, v, i)}
                    for v, i in entries
                ],
                "new_url": form_url(participant.screening_number, form.id, "", following),
            }
        )
    context = {
        **tab_context(participant, user, "calendar"),
        "plan": plan,
        "rows": rows,
        "events": events,
        "can_record": access.can(user, Capability.RECORD_DATA, participant.site),
        "can_sign": access.can(user, Capability.SIGN_CASEBOOK, participant.site),
    }
    return render(request, "iliad7/web/calendar.html", context)


# ---------------------------------------------------------------- the generic eCRF page


@page
@require_http_methods(["GET", "POST"])
def form(request: HttpRequest, screening_number: str, form_id: str) -> HttpResponse:
    """Any protocol form: typed inputs, units, ranges, messages beside each field, derived values, queries."""
    user = _user(request)
    participant = _participant(request, screening_number)
    protocol = load_protocol()
    spec = form_spec(protocol, form_id)
    source = request.POST if request.method == "POST" else request.GET
    visit = source.get("visit", request.GET.get("visit", "")).strip()
    errors: dict[str, str] = {}
    status = 200
    try:
        instance = _instance(source.get("instance", request.GET.get("instance")))
    except InputError as exc:
        errors["instance"], instance, status = exc.message, 1, 400
    site = participant.site
    can_record = access.can(user, Capability.RECORD_DATA, site)
    saved = actions.saved_form(participant, form_id, visit, instance)
    check_messages: tuple[Any, ...] = ()
    reason = ""
    if request.method == "POST" and not errors:
        if not can_record:
            raise AccessDenied("only site staff of this participant's site enter data")
        values, typed = ecrf.values_from_post(spec, request.POST)
        reason = request.POST.get("reason", "")
        try:
            result = actions.save_form(
                participant, form_id, values, visit=visit, instance=instance, acting_user=user, channel=CHANNEL,
                reason=reason,
            )  # fmt: skip
        except actions.FormRejected as exc:
            check_messages, status = exc.check.messages, 400
            errors["general"] = f"Not saved: {len(exc.messages)} field(s) need attention. Nothing was stored."
        except InputError as exc:
            errors[exc.field] = exc.message
            errors.setdefault("general", f"Not saved: {_refusal(exc)}")
            status = 400
        except Iliad7Error as exc:
            errors["general"] = f"Not saved: {exc}"
            status = 409
        else:
            done = f"{spec.form.title} saved ({len(result.written)} value(s) written)."
            if result.derived:
                shown = (f"{k} = {v.value or 'not computable'}" for k, v in result.derived.items())
                done += " Derived: " + ", ".join(shown)
            messages.success(request, done)
            for warning in result.warnings:
                messages.warning(request, f"Kept with a warning — {warning.field}: {warning.message}")
            if result.sdv_cleared:
                messages.warning(request, "The form's source-data verification was cleared by this change.")
            return redirect(form_url(participant.screening_number, form_id, visit, instance))
    else:
        typed = ecrf.values_from_saved(spec, saved.values)
    sees_queries = access.can(user, Capability.VIEW_QUERIES, site)
    queries = reads.form_queries(participant, form_id, visit, instance) if sees_queries else {}
    rows = ecrf.field_rows(spec, typed, messages=check_messages, saved=saved.values, queries=queries)
    context = {
        "participant": participant,
        "spec": spec,
        "form": spec.form,
        "visit": visit,
        "visit_spec": spec.visit(visit) if visit else None,
        "instance": instance,
        "rows": rows,
        "other_messages": ecrf.other_messages(spec, check_messages),
        "errors": errors,
        "reason": reason,
        "saved": saved,
        "has_saved": bool(saved.values),
        "derived": ecrf.derived_rows(saved.derived),
        "can_record": can_record and not saved.locked,
        "sees_queries": sees_queries,
        "any_queries": any(queries.values()),
        "can_raise": access.can(user, Capability.RAISE_QUERY, site),
        "can_answer": access.can(user, Capability.ANSWER_QUERY, site),
        "can_sdv": access.can(user, Capability.VERIFY_SOURCE, site),
        "can_lock": access.can(user, Capability.LOCK_DATA, site),
        "entries": reads.form_entries(participant, form_id),
    }
    return render(request, "iliad7/web/form.html", context, status=status)


LIVE_SKIP_KINDS = frozenset({"required"})


@page
@require_POST
def form_check(request: HttpRequest, screening_number: str, form_id: str) -> HttpResponse:
    """HTMX fragment: the form's edit checks on what is typed so far, a message beside each field; nothing saved.

    While the form is being filled, a field not yet typed in gets no message
    (no "required" flood); every other error and warning is shown at once.
    """
    from iliad7.capture import validate_form
    from iliad7.store.actions.capture import capture_context

    user = _user(request)
    participant = _participant(request, screening_number)
    if not access.can(user, Capability.RECORD_DATA, participant.site):
        raise AccessDenied("only site staff of this participant's site enter data")
    spec = form_spec(load_protocol(), form_id)
    visit = request.POST.get("visit", "").strip()
    values, typed = ecrf.values_from_post(spec, request.POST)
    check = validate_form(spec, values, context=capture_context(participant, visit=visit))
    shown = tuple(
        m
        for m in check.messages
        if m.kind not in LIVE_SKIP_KINDS
        and (typed.get(m.field.removesuffix(".unit"), "").strip() or m.kind != "cross-field")
    )
    rows = ecrf.field_rows(spec, typed, messages=shown)
    errors = sum(1 for m in shown if m.severity == "error")
    return render(
        request,
        "iliad7/web/_form_check.html",
        {"rows": rows, "errors": errors, "warnings": len(shown) - errors, "other": ecrf.other_messages(spec, shown)},
    )


# ---------------------------------------------------------------- queries, SDV, locks


@page
@require_POST
def query_raise(request: HttpRequest, screening_number: str, form_id: str) -> HttpResponseBase:
    participant = _participant(request, screening_number)
    post = request.POST
    try:
        actions.raise_query(
            participant, form=form_id, item=post.get("item", ""), visit=post.get("visit", ""),
            instance=_instance(post.get("instance")), text=post.get("text", ""), acting_user=_user(request),
            channel=CHANNEL,
        )  # fmt: skip
    except Iliad7Error as exc:
        if isinstance(exc, AccessDenied):
            raise
        messages.error(request, f"Query not raised: {_refusal(exc)}")
    else:
        messages.success(request, f"Query raised on {post.get('item', '')}.")
    return _back_to_form(participant.screening_number, form_id, post)


QUERY_STEPS: dict[str, Callable[..., Any]] = {
    "answer": actions.answer_query,
    "close": actions.close_query,
    "reopen": actions.reopen_query,
}


@page
@require_POST
def query_step(request: HttpRequest, query_id: int) -> HttpResponseBase:
    """Answer (site staff), close or reopen (monitor, data manager) one query."""
    user = _user(request)
    query = reads.access_query(user, query_id)
    step = request.POST.get("step", "")
    try:
        if step not in QUERY_STEPS:
            raise InputError("step", f"one of {', '.join(QUERY_STEPS)}")
        QUERY_STEPS[step](query, text=request.POST.get("text", ""), acting_user=user, channel=CHANNEL)
    except Iliad7Error as exc:
        if isinstance(exc, AccessDenied):
            raise
        messages.error(request, f"Query {query.pk} not changed: {_refusal(exc)}")
    else:
        messages.success(request, f"Query {query.pk}: {step} recorded.")
    if request.POST.get("next") == "queries":
        return redirect("web:queries")
    return redirect(form_url(query.participant.screening_number, query.form, query.visit, query.instance))


@page
@require_POST
def form_sdv(request: HttpRequest, screening_number: str, form_id: str) -> HttpResponseBase:
    participant = _participant(request, screening_number)
    post = request.POST
    verified = post.get("verified") == "yes"
    try:
        actions.set_sdv(
            participant, form_id, post.get("visit", ""), verified=verified, instance=_instance(post.get("instance")),
            acting_user=_user(request), channel=CHANNEL,
        )  # fmt: skip
    except Iliad7Error as exc:
        if isinstance(exc, AccessDenied):
            raise
        messages.error(request, f"Not changed: {_refusal(exc)}")
    else:
        messages.success(request, "Source data verified." if verified else "Source-data verification cleared.")
    return _back_to_form(participant.screening_number, form_id, post)


@page
@require_POST
def form_lock(request: HttpRequest, screening_number: str, form_id: str) -> HttpResponseBase:
    participant = _participant(request, screening_number)
    post = request.POST
    lock = post.get("lock") == "yes"
    try:
        (actions.lock_form if lock else actions.unlock_form)(
            participant, form_id, post.get("visit", ""), instance=_instance(post.get("instance")),
            acting_user=_user(request), channel=CHANNEL, reason=post.get("reason", ""),
        )  # fmt: skip
    except Iliad7Error as exc:
        if isinstance(exc, AccessDenied):
            raise
        messages.error(request, f"Not changed: {_refusal(exc)}")
    else:
        messages.success(request, "Form locked." if lock else "Form unlocked.")
    return _back_to_form(participant.screening_number, form_id, post)


# ---------------------------------------------------------------- casebook


@page
@require_http_methods(["GET", "POST"])
def casebook(request: HttpRequest, screening_number: str) -> HttpResponse:
    """Every saved form and query of the participant; lock (data manager) and signature (investigator)."""
    user = _user(request)
    participant = _participant(request, screening_number)
    site = participant.site
    errors: dict[str, str] = {}
    status = 200
    step = request.POST.get("step", "") if request.method == "POST" else ""
    if step == "sign":
        try:
            actions.sign_casebook(
                participant, acting_user=user, password=request.POST.get("password", ""),
                otp_token=request.POST.get("otp_token", ""), channel=CHANNEL, source=request,
            )  # fmt: skip
        except InputError as exc:
            errors[exc.field] = str(getattr(exc, "message", exc))
            errors["general"] = f"Not signed: {_refusal(exc)}"
            status = 400
        except ReauthenticationFailed as exc:
            # One message for both inputs: which secret was wrong is not said.
            errors["general"] = f"Not signed: {str(exc).removeprefix(exc.field + ': ')}"
            status = 400
        except TooManyAttempts as exc:
            errors["general"] = f"Not signed: {exc}"
            status = 429
        except AccessDenied:
            raise
        except Iliad7Error as exc:
            errors["general"] = f"Not signed: {exc}"
            status = 409
        else:
            messages.success(request, f"Casebook of {participant.screening_number} signed: {actions.CASEBOOK_MEANING}.")
            return redirect("web:casebook", screening_number=participant.screening_number)
    elif step in ("lock", "unlock"):
        try:
            (actions.lock_casebook if step == "lock" else actions.unlock_casebook)(
                participant, acting_user=user, channel=CHANNEL, reason=request.POST.get("reason", "")
            )
        except InputError as exc:
            errors["reason"] = exc.message
            errors["general"] = f"Not changed: {_refusal(exc)}"
            status = 400
        except AccessDenied:
            raise
        except Iliad7Error as exc:
            errors["general"] = f"Not changed: {exc}"
            status = 409
        else:
            messages.success(request, f"Casebook {step}ed.")
            return redirect("web:casebook", screening_number=participant.screening_number)
    elif request.method == "POST":
        errors["general"], status = "Choose what to do (sign, lock or unlock).", 400
    saved = reads.saved_forms(participant)
    titles = {f.id: f.title for f in load_protocol().forms}
    number = participant.screening_number
    forms = [
        {
            "id": form_id,
            "title": titles[form_id],
            "entries": [{"visit": v, "instance": i, "url": form_url(number, form_id, v, i)} for v, i in entries],
        }
        for form_id, entries in sorted(saved.items())
        if form_id in titles
    ]
    sees_queries = access.can(user, Capability.VIEW_QUERIES, site)
    context = {
        **tab_context(participant, user, "casebook"),
        "forms": forms,
        "queries": reads.participant_queries(participant) if sees_queries else [],
        "sees_queries": sees_queries,
        "problems": actions.casebook_problems(participant),
        "locked": actions.casebook_locked(participant),
        "signatures": reads.casebook_signatures(participant),
        "meaning": actions.CASEBOOK_MEANING,
        "can_sign": access.can(user, Capability.SIGN_CASEBOOK, site),
        "can_lock": access.can(user, Capability.LOCK_DATA, site),
        "errors": errors,
        "typed_reason": request.POST.get("reason", "") if request.method == "POST" else "",
    }
    return render(request, "iliad7/web/casebook.html", context, status=status)


# ---------------------------------------------------------------- lists


@page
def queries(request: HttpRequest) -> HttpResponse:
    """Queries not yet closed of the participants the user reviews or answers for."""
    user = _user(request)
    if not access.visible_sites(user, Capability.VIEW_QUERIES).exists():
        raise AccessDenied("your roles do not see data queries")
    rows = actions.open_queries(user)
    for query in rows:
        where = (query.participant.screening_number, query.form, query.visit, query.instance)
        query.url = form_url(*where)  # type: ignore[attr-defined]
    return render(request, "iliad7/web/queries.html", {"queries": rows})


@page
def sae_clocks(request: HttpRequest) -> HttpResponse:
    """Serious adverse events with their 24-hour reporting deadline (investigators and reviewers)."""
    user = _user(request)
    if not (
        access.visible_sites(user, Capability.SIGN_CASEBOOK).exists()
        or access.visible_sites(user, Capability.VIEW_QUERIES).exists()
    ):
        raise AccessDenied("the SAE clocks are for investigators and the reviewers of the data")
    clocks = actions.sae_clocks(user)
    rows = [{"clock": c, "url": form_url(c.screening_number, "ADVERSE-EVENT", "", c.instance)} for c in clocks]
    return render(request, "iliad7/web/sae_clocks.html", {"rows": rows})
