"""Server-rendered pages: thin views over the store's guarded reads and actions.

Every view is behind login (and the second-factor middleware); a participant
is reached only through `access_participant`, so another site's screening
number answers 404 like a missing one. Writes call one action each with
channel `web`; the action checks the role again and writes the audit record.
No view reads or shows a treatment arm, except the two pages whose purpose it
is (the unblinded pharmacist's worksheet and the emergency unblinding result),
and those only through the store's guarded read.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime
from decimal import Decimal, InvalidOperation
from functools import wraps
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.contrib.staticfiles import finders
from django.http import FileResponse, Http404, HttpRequest, HttpResponse, HttpResponseBase
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods, require_POST

from iliad7.accounts.roles import Capability
from iliad7.errors import (
    AccessDenied,
    Iliad7Error,
    InputError,
    NotFound,
    PharmacyRefused,
    ReauthenticationFailed,
    TooManyAttempts,
)
from iliad7.inputs import DB_INT_MAX, bounded_int
from iliad7.store import access, actions
from iliad7.web import reads, screening_form
from iliad7.web.participant_tabs import tab_context

CHANNEL = "web"
View = Callable[..., HttpResponseBase]


def _error_page(request: HttpRequest, status: int, title: str, message: str) -> HttpResponse:
    return render(request, "iliad7/web/error.html", {"title": title, "message": message}, status=status)


# What a page's address names, for its 404 page (by the URL's own parameter).
_NOT_FOUND = {
    "screening_number": "There is no such participant, or it is not yours to see.",
    "query_id": "There is no such query, or it is not yours to see.",
    "candidate_id": "There is no such candidate, or it is not yours to see.",
    "site_code": "There is no such site pharmacy, or it is not yours to keep.",
    "job_id": "There is no such export, or it is not yours to see.",
}


def page(view: View) -> View:
    """Login required; the store's NotFound and AccessDenied become 404 and 403 pages."""

    @wraps(view)
    def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        try:
            return view(request, *args, **kwargs)
        except NotFound:
            named = next((text for key, text in _NOT_FOUND.items() if key in kwargs), None)
            return _error_page(request, 404, "Not found", named or "There is no such page, or it is not yours to see.")
        except AccessDenied as exc:
            return _error_page(request, 403, "Not allowed", str(exc))

    guarded = login_required(wrapped)

    @wraps(view)
    def entry(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        if request.headers.get("HX-Request") and not request.user.is_authenticated:
            # An HTMX call after the session timed out: send the whole page to sign-in, not a fragment.
            response = HttpResponse(status=401)
            back = urlsplit(request.headers.get("HX-Current-URL", "/")).path or "/"
            response["HX-Redirect"] = f"{settings.LOGIN_URL}?next={quote(back)}"
            return response
        return guarded(request, *args, **kwargs)

    return entry


def _participant(request: HttpRequest, screening_number: str) -> Any:
    return access.access_participant(request.user, screening_number)  # type: ignore[arg-type]


def static_file(request: HttpRequest, path: str) -> HttpResponseBase:
    """The app's own static files (HTMX, the style sheet), also under the production server."""
    found = finders.find(path)
    if not found or not isinstance(found, str):
        raise Http404(path)
    # FileResponse closes the file when the response is done.
    response = FileResponse(Path(found).open("rb"))  # noqa: SIM115
    response["Cache-Control"] = "max-age=3600"
    return response


def _user(request: HttpRequest) -> Any:
    return request.user


def _refusal(exc: Iliad7Error) -> str:
    """The refusal as one line naming the field once (a form's messages already start with their field)."""
    if isinstance(exc, InputError | ReauthenticationFailed):
        message = str(getattr(exc, "message", "") or exc).removeprefix(f"{exc.field}: ")
        return f"{exc.field}: {message}"
    return str(exc)


# ---------------------------------------------------------------- home and lists


@page
def home(request: HttpRequest) -> HttpResponse:
    """What this user can do, by role."""
    user = _user(request)
    screen_sites = list(access.visible_sites(user, Capability.SCREEN_PARTICIPANT))
    context = {
        "role_titles": reads.role_titles(user),
        "sites": sorted(user.sites.values_list("code", flat=True)),
        "sees_participants": access.visible_sites(user).exists(),
        "screen_sites": screen_sites,
        "randomizer": access.visible_sites(user, Capability.RANDOMIZE).exists(),
        "pharmacy_sites": list(access.visible_sites(user, Capability.DRUG_ACCOUNTABILITY)),
        "audit_reader": reads.may_read_audit(user),
        "administrator": access.can(user, Capability.MANAGE_USERS),
        "unblinding_viewer": access.can(user, Capability.VIEW_UNBLINDING_EVENTS),
        "reconsent_tasks": actions.open_reconsent_tasks(user) if screen_sites else [],
        "query_viewer": access.visible_sites(user, Capability.VIEW_QUERIES).exists(),
        "sae_viewer": access.visible_sites(user, Capability.SIGN_CASEBOOK).exists()
        or access.visible_sites(user, Capability.VIEW_QUERIES).exists(),
        "adjudicator": access.can(user, Capability.ADJUDICATE_INFECTION),
        "security_notices": actions.security_notices(user),
    }
    # The re-supply alert is the unblinded pharmacist's alone (stock follows the arm).
    context["resupply"] = [
        report
        for site in context["pharmacy_sites"]
        if (report := actions.drug_accountability(site_code=site.code, acting_user=user))["resupply_needed"]
    ]
    return render(request, "iliad7/web/home.html", context)


@page
@require_POST
def dismiss_notice(request: HttpRequest, notice_id: int) -> HttpResponseBase:
    """Dismiss one security notice shown on the home page (its recipient, or an administrator)."""
    actions.dismiss_notice(_user(request), notice_id, channel=CHANNEL)
    return redirect("web:home")


# The participant list's sort orders: (label, ordering); screening number breaks ties.
_PARTICIPANT_SORTS = {
    "screening_number": ("Screening number", ("screening_number",)),
    "usubjid": ("USUBJID", ("usubjid", "screening_number")),
    "site": ("Site", ("site__code", "screening_number")),
    "status": ("Status", ("status", "screening_number")),
    "newest": ("Newest first", ("-created_at", "screening_number")),
}


@page
def participant_list(request: HttpRequest) -> HttpResponse:
    """The participants the user may see: search by screening number or USUBJID, filter by site and
    status, sort by any column. An unknown filter value is named, never silently ignored."""
    from django.db.models import Q

    from iliad7.accounts.status import ParticipantStatus

    user = _user(request)
    visible = access.visible_participants(user).select_related("site")
    sites = sorted(visible.values_list("site__code", flat=True).distinct())
    statuses = [s.value for s in ParticipantStatus]
    query = request.GET.get("q", "").strip()[:40]
    site = request.GET.get("site", "").strip()
    status = request.GET.get("status", "").strip()
    sort = request.GET.get("sort", "").strip() or "screening_number"
    problems = []
    if site and site not in sites:
        problems.append(f"site: {site!r} is none of your sites ({', '.join(sites) or 'none'})")
    if status and status not in statuses:
        problems.append(f"status: {status!r} is not a participant status")
    if sort not in _PARTICIPANT_SORTS:
        problems.append(f"sort: {sort!r} is not one of {', '.join(_PARTICIPANT_SORTS)}")
        sort = "screening_number"
    shown = visible
    if query:
        shown = shown.filter(Q(screening_number__icontains=query) | Q(usubjid__icontains=query))
    if site:
        shown = shown.filter(site__code=site)
    if status:
        shown = shown.filter(status=status)
    participants = list(shown.order_by(*_PARTICIPANT_SORTS[sort][1]))
    screen_sites = list(access.visible_sites(user, Capability.SCREEN_PARTICIPANT))
    context = {
        "participants": participants,
        "total": visible.count(),
        "screen_sites": screen_sites,
        "sites": sites,
        "statuses": statuses,
        "sorts": [(key, label) for key, (label, _) in _PARTICIPANT_SORTS.items()],
        "q": query,
        "site": site,
        "status": status,
        "sort": sort,
        "problems": problems,
        "filtered": bool(query or site or status),
    }
    return render(request, "iliad7/web/participants.html", context, status=400 if problems else 200)


@page
@require_POST
def participant_create(request: HttpRequest) -> HttpResponseBase:
    try:
        participant = actions.create_participant(
            site=request.POST.get("site", ""), acting_user=_user(request), channel=CHANNEL
        )
    except InputError as exc:
        messages.error(request, _refusal(exc))
        return redirect("web:participants")
    messages.success(request, f"Participant {participant.screening_number} created at {participant.site.code}.")
    return redirect("web:screening", screening_number=participant.screening_number)


# ---------------------------------------------------------------- screening


def _form_context(state: screening_form.FormState, typed: dict[str, str]) -> list[dict[str, Any]]:
    texts = screening_form.criterion_texts()
    results = {c.id: c for c in state.screening.criteria} if state.screening else {}
    groups = []
    for group in screening_form.form_groups():
        kind, registry, computable = texts.get(group.key, ("", "", ""))
        groups.append(
            {
                "key": group.key,
                "title": group.title,
                "kind": kind,
                "registry_text": registry,
                "computable": computable,
                "result": results.get(group.key),
                "fields": [
                    {
                        "spec": spec,
                        "value": typed.get(spec.path, ""),
                        "never": bool(typed.get(spec.never_name)),
                        "error": state.errors.get(spec.path, ""),
                    }
                    for spec in group.fields
                ],
            }
        )
    return groups


def _require_screener(request: HttpRequest, participant: Any) -> None:
    if not access.can(_user(request), Capability.SCREEN_PARTICIPANT, participant.site):
        raise AccessDenied("only site staff of this participant's site screen participants")


@page
@require_http_methods(["GET", "POST"])
def screening(request: HttpRequest, screening_number: str) -> HttpResponse:
    """The screening record form: live verdict (HTMX), save and resume."""
    participant = _participant(request, screening_number)
    _require_screener(request, participant)
    notice, status = "", 200
    record, saved = reads.screening_data(participant)
    if request.method == "POST":
        state = screening_form.from_post(request.POST)
        if state.errors:
            notice, status = "Some fields need attention; nothing was saved.", 400
        else:
            try:
                actions.save_screening(
                    participant,
                    state.record,
                    acting_user=_user(request),
                    channel=CHANNEL,
                    reason=request.POST.get("reason", ""),
                )
            except InputError as exc:
                state.errors[exc.field] = exc.message
                notice, status = f"Not saved: {_refusal(exc)}", 400
            except Iliad7Error as exc:
                notice, status = f"Not saved: {exc}", 409
            else:
                messages.success(request, f"Screening record of {participant.screening_number} saved.")
                return redirect("web:screening", screening_number=screening_number)
    else:
        state = screening_form.from_post(screening_form.typed_from_record(record))
    context = {
        "participant": participant,
        "groups": _form_context(state, state.typed),
        "screening": state.screening,
        "errors": state.errors,
        "notice": notice,
        "saved": saved,
        "open": participant.status in ("screened", "consented"),
        "can_fail": access.can(_user(request), Capability.CHANGE_STATUS, participant.site),
        "typed_reason": request.POST.get("reason", "") if request.method == "POST" else "",
    }
    return render(request, "iliad7/web/screening.html", context, status=status)


@page
@require_POST
def screening_evaluate(request: HttpRequest, screening_number: str) -> HttpResponse:
    """HTMX fragment: the verdict, each criterion's reason, and a message beside each field."""
    participant = _participant(request, screening_number)
    _require_screener(request, participant)
    state = screening_form.from_post(request.POST)
    fields = [
        {"spec": spec, "error": state.errors.get(spec.path, ""), "value": state.typed.get(spec.path, "")}
        for spec in screening_form.all_fields()
    ]
    results = list(state.screening.criteria) if state.screening else []
    return render(
        request,
        "iliad7/web/_verdict_update.html",
        {"screening": state.screening, "fields": fields, "results": results, "errors": state.errors},
    )


@page
@require_POST
def screen_failure(request: HttpRequest, screening_number: str) -> HttpResponseBase:
    participant = _participant(request, screening_number)
    try:
        actions.record_screen_failure(
            participant, acting_user=_user(request), channel=CHANNEL, reason=request.POST.get("reason", "")
        )
    except Iliad7Error as exc:
        messages.error(request, f"Not recorded: {_refusal(exc)}")
        return redirect("web:screening", screening_number=screening_number)
    messages.success(request, f"{participant.screening_number} recorded as a screen failure.")
    return redirect("web:participant", screening_number=screening_number)


@page
def screening_log(request: HttpRequest) -> HttpResponse:
    user = _user(request)
    sites = list(access.visible_sites(user))
    code = request.GET.get("site") or None
    log = actions.screening_log(user, site_code=code)
    rows = [
        {
            "site": site_code,
            "counts": [(k, v) for k, v in counts.items() if k != "ineligible_by_criterion"],
            "by_criterion": sorted(counts.get("ineligible_by_criterion", {}).items()),
        }
        for site_code, counts in log.items()
    ]
    return render(request, "iliad7/web/screening_log.html", {"sites": sites, "site": code, "rows": rows})


# ---------------------------------------------------------------- consent, randomization, unblinding


CONSENT_TYPES = (("written", "Written, signed"), ("emergency_oral", "Emergency oral"))
CONSENT_BY = (("participant", "The participant"), ("legally_authorized_representative", "A legally authorized rep."))


def _utc(text: str, field: str) -> datetime:
    try:
        value = datetime.fromisoformat(text.strip())
    except ValueError:
        raise InputError(field, "give a date and time (UTC) as YYYY-MM-DD HH:MM") from None
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def _decimal(text: str, field: str) -> Decimal:
    try:
        value = Decimal(text.strip().replace(",", "."))
    except InvalidOperation:
        raise InputError(field, "give a number") from None
    if not value.is_finite():
        raise InputError(field, "give a number")
    return value


@page
@require_http_methods(["GET", "POST"])
def consent(request: HttpRequest, screening_number: str) -> HttpResponse:
    user = _user(request)
    participant = _participant(request, screening_number)
    if not access.can(user, Capability.RECORD_CONSENT, participant.site):
        raise AccessDenied("only site staff of this participant's site record consent")
    fields = ("consent_type", "given_by", "obtained_at", "form_version", "obtained_by")
    typed = {k: request.POST.get(k, "") for k in fields}
    errors: dict[str, str] = {}
    status = 200
    open_task = next((t for t in actions.open_reconsent_tasks(user) if t.participant.pk == participant.pk), None)
    if request.method == "POST":
        try:
            common = {
                "consent_type": typed["consent_type"],
                "given_by": typed["given_by"],
                "obtained_at": _utc(typed["obtained_at"], "obtained_at"),
                "form_version": typed["form_version"],
                "obtained_by": typed["obtained_by"],
                "acting_user": user,
                "channel": CHANNEL,
            }
            if open_task is not None:
                # The written re-consent that closes the task opened by an emergency oral consent.
                if typed["consent_type"] != "written":
                    raise InputError("consent_type", "a re-consent is written")
                del common["consent_type"]
            (actions.complete_reconsent if open_task is not None else actions.record_consent)(participant, **common)
        except InputError as exc:
            errors[exc.field] = exc.message
            status = 400
        except Iliad7Error as exc:
            errors["general"] = str(exc)
            status = 409
        else:
            messages.success(request, f"Consent of {participant.screening_number} recorded.")
            return redirect("web:participant", screening_number=screening_number)
    context = {
        "participant": participant,
        "typed": typed,
        "errors": errors,
        "consent_types": CONSENT_TYPES,
        "consent_by": CONSENT_BY,
        "consents": actions.consents_of(participant),
        "open_task": open_task,
    }
    return render(request, "iliad7/web/consent.html", context, status=status)


@page
@require_http_methods(["GET", "POST"])
def randomize(request: HttpRequest, screening_number: str) -> HttpResponse:
    """Investigators only, with an explicit confirmation; shows usubjid, number and kit code, never the arm."""
    user = _user(request)
    participant = _participant(request, screening_number)
    if not access.can(user, Capability.RANDOMIZE, participant.site):
        raise AccessDenied("only an investigator of this participant's site randomizes")
    error, status = "", 200
    result = actions.randomization_of(participant)
    if request.method == "POST" and result is None:
        if request.POST.get("confirm") != "yes":
            error, status = "Tick the confirmation to randomize.", 400
        else:
            try:
                result = actions.randomize_participant(
                    participant, acting_user=user, confirmation=True, channel=CHANNEL
                )
            except InputError as exc:
                error, status = _refusal(exc), 400
            except Iliad7Error as exc:
                error, status = f"Refused: {exc}", 409
    _record, saved = reads.screening_data(participant)
    context = {"participant": participant, "error": error, "result": result, "screening": reads.saved_verdict(saved)}
    return render(request, "iliad7/web/randomize.html", context, status=status)


@page
@require_http_methods(["GET", "POST"])
def unblind(request: HttpRequest, screening_number: str) -> HttpResponse:
    """Emergency unblinding of one participant: reason and second factor; the arm is shown once, here."""
    user = _user(request)
    participant = _participant(request, screening_number)
    if not access.can(user, Capability.UNBLIND, participant.site):
        raise AccessDenied("only an investigator of this participant's site may unblind in an emergency")
    errors: dict[str, str] = {}
    revealed, status = None, 200
    reason = request.POST.get("reason", "")
    if request.method == "POST":
        try:
            revealed = actions.unblind_participant(
                participant,
                acting_user=user,
                reason=reason,
                otp_token=request.POST.get("otp_token", ""),
                channel=CHANNEL,
                source=request,
            )
        except InputError as exc:
            errors[exc.field] = str(exc)
            status = 400
        except ReauthenticationFailed as exc:
            errors["otp_token"] = errors["general"] = str(exc)
            status = 400
        except TooManyAttempts as exc:
            errors["general"] = f"{str(exc)[:1].upper()}{str(exc)[1:]}."
            status = 429
        except AccessDenied:
            errors["general"] = "This participant has no allocation to reveal (not randomized)."
            status = 409
        except Iliad7Error as exc:
            errors["general"] = str(exc)
            status = 409
    context = {"participant": participant, "errors": errors, "revealed": revealed, "reason": reason}
    return render(request, "iliad7/web/unblind.html", context, status=status)


@page
def unblinding_events(request: HttpRequest) -> HttpResponse:
    events = actions.unblinding_events(_user(request), channel=CHANNEL)
    return render(request, "iliad7/web/unblinding_events.html", {"events": events})


# ---------------------------------------------------------------- pharmacy (unblinded pharmacist)


@page
@require_http_methods(["GET", "POST"])
def pharmacy(request: HttpRequest, screening_number: str) -> HttpResponse:
    """The unblinded pharmacist's worksheet: prepared doses with contents, and the preparation form."""
    user = _user(request)
    participant = _participant(request, screening_number)
    if not access.can(user, Capability.PREPARE_DOSE, participant.site):
        raise AccessDenied("only the unblinded pharmacist of this participant's site sees the worksheet")
    record, _saved = reads.screening_data(participant)
    weight = (record or {}).get("weight_kg")
    fields = ("dose_number", "weight_kg", "concentration_ug_per_ml", "lot")
    typed = {k: request.POST.get(k, "") for k in fields}
    accountability = actions.drug_accountability(site_code=participant.site.code, acting_user=user)
    # The lots a syringe can be prepared from today, first expiry first (the pharmacy's FEFO rule).
    lots = sorted((lot for lot in accountability["lots"] if lot["usable"]), key=lambda lot: (lot["expiry"], lot["lot"]))
    doses = reads.doses_to_prepare(participant)
    if request.method == "GET":
        typed["weight_kg"] = "" if weight is None else str(weight)
        typed["concentration_ug_per_ml"] = settings.ILIAD7_CONCENTRATION_UG_PER_ML
        typed["dose_number"] = str(doses[0]) if doses else ""
        typed["lot"] = lots[0]["lot"] if lots else ""
    errors: dict[str, str] = {}
    status = 200
    if request.method == "POST":
        try:
            number = bounded_int("dose_number", typed["dose_number"], 1, DB_INT_MAX, what="the dose number")
            prepared = actions.prepare_dose(
                participant,
                number,
                weight_kg=_decimal(typed["weight_kg"], "weight_kg"),
                concentration_ug_per_ml=_decimal(typed["concentration_ug_per_ml"], "concentration_ug_per_ml"),
                lot=typed["lot"],
                acting_user=user,
                channel=CHANNEL,
            )
        except InputError as exc:
            errors[exc.field] = exc.message
            status = 400
        except PharmacyRefused as exc:
            # An expired or empty lot is the lot's fault: said beside the lot.
            errors["lot" if str(exc).startswith(f"lot {typed['lot'].strip()} ") else "general"] = str(exc)
            status = 409
        except Iliad7Error as exc:
            errors["general"] = str(exc)
            status = 409
        else:
            messages.success(request, f"Syringe {prepared.label} prepared.")
            return redirect("web:pharmacy", screening_number=screening_number)
    arm = access.access_allocation(user, participant) if participant.usubjid else None
    context = {
        **tab_context(participant, user, "pharmacy"),
        "arm": arm,
        "randomization": actions.randomization_of(participant),
        "worksheet": actions.pharmacy_worksheet(participant, acting_user=user, channel=CHANNEL),
        "typed": typed,
        "errors": errors,
        "accountability": accountability,
        "lots": lots,
        "doses": doses,
        # A refused entry keeps what was typed, even when it is not one of the choices offered.
        "other_dose": "" if typed["dose_number"] in {str(n) for n in doses} else typed["dose_number"],
        "other_lot": "" if typed["lot"] in {lot["lot"] for lot in lots} else typed["lot"],
    }
    return render(request, "iliad7/web/pharmacy.html", context, status=status)


# ---------------------------------------------------------------- audit


AUDIT_PAGE_SIZE = 100
_AUDIT_FIELDS = ("participant", "actor", "action", "since", "until")


def _audit_filter(query: Any) -> tuple[reads.AuditFilter, dict[str, str], dict[str, str]]:
    """The audit page's filter from its query string: (filter, what was typed, errors by field)."""
    typed = {k: str(query.get(k, "")).strip()[:200] for k in _AUDIT_FIELDS}
    errors: dict[str, str] = {}
    days: dict[str, date | None] = {"since": None, "until": None}
    for name in days:
        if typed[name]:
            try:
                days[name] = date.fromisoformat(typed[name])
            except ValueError:
                errors[name] = "give a date as YYYY-MM-DD"
    if days["since"] and days["until"] and days["since"] > days["until"]:
        errors["until"] = "the last day comes before the first"
    found = reads.AuditFilter(participant=typed["participant"], actor=typed["actor"], action=typed["action"], **days)
    return found, typed, errors


@page
def audit_trail(request: HttpRequest) -> HttpResponse:
    """The audit trail, newest first, filtered (participant, user, action, days) and paged by record number."""
    user = _user(request)
    filters, typed, errors = _audit_filter(request.GET)
    if errors:
        filters = reads.AuditFilter()
    records = reads.audit_query(user, filters)
    total = records.count()
    before, after = _cursor(request.GET, "before"), _cursor(request.GET, "after")
    if after is not None:
        shown = list(records.filter(id__gt=after).order_by("id")[:AUDIT_PAGE_SIZE])[::-1]
    else:
        shown = list((records.filter(id__lt=before) if before is not None else records)[:AUDIT_PAGE_SIZE])
    rows = [{"record": r, "changes": reads.audit_changes(r.old_value, r.new_value)} for r in shown]
    kept = {k: v for k, v in typed.items() if v and k not in errors}
    newest_id, oldest_id = (shown[0].id, shown[-1].id) if shown else (None, None)
    more_newer = newest_id is not None and records.filter(id__gt=newest_id).exists()
    more_older = oldest_id is not None and records.filter(id__lt=oldest_id).exists()
    context = {
        "rows": rows,
        "total": total,
        "typed": typed,
        "errors": errors,
        "actions": reads.audit_actions(user),
        "newer": f"?{_query(kept, after=newest_id)}" if more_newer else "",
        "older": f"?{_query(kept, before=oldest_id)}" if more_older else "",
        "newest": f"?{_query(kept)}" if before is not None or after is not None else "",
        "page_size": AUDIT_PAGE_SIZE,
    }
    return render(request, "iliad7/web/audit.html", context, status=400 if errors else 200)


def _cursor(query: Any, name: str) -> int | None:
    """A record number to page from (`before`, `after`); anything else is the newest page."""
    text = str(query.get(name, "")).strip()
    try:
        return bounded_int(name, text, 0, DB_INT_MAX * 2**31) if text else None
    except InputError:
        return None


def _query(kept: dict[str, str], **cursor: Any) -> str:
    from urllib.parse import urlencode

    return urlencode({**kept, **{k: v for k, v in cursor.items() if v is not None}})


DRUG_MOVEMENTS = ("receipt", "wastage", "return")


@page
@require_http_methods(["GET", "POST"])
def pharmacy_stock(request: HttpRequest, site_code: str) -> HttpResponse:
    """A site pharmacy's drug accountability, and the forms to receive, waste or return vials."""
    user = _user(request)
    site = access.visible_sites(user, Capability.DRUG_ACCOUNTABILITY).filter(code=site_code).first()
    if site is None:
        raise NotFound(site_code)  # as for a participant: the same page whether the site exists or not
    kind = request.POST.get("movement", "")
    typed = {k: request.POST.get(k, "") for k in ("lot", "expiry", "vials", "reason")}
    errors: dict[str, str] = {}
    status = 200
    if request.method == "POST":
        try:
            if kind not in DRUG_MOVEMENTS:
                raise InputError("movement", f"one of {', '.join(DRUG_MOVEMENTS)}")
            vials = bounded_int("vials", typed["vials"], 1, DB_INT_MAX, what="a whole number of vials")
            common = {"site_code": site.code, "lot": typed["lot"], "vials": vials}
            if kind == "receipt":
                try:
                    expiry = date.fromisoformat(typed["expiry"].strip())
                except ValueError:
                    raise InputError("expiry", "give the expiry date as YYYY-MM-DD") from None
                actions.record_drug_receipt(**common, expiry=expiry, acting_user=user, channel=CHANNEL)
            elif kind == "wastage":
                actions.record_wastage(**common, reason=typed["reason"], acting_user=user, channel=CHANNEL)
            else:
                actions.record_return(**common, reason=typed["reason"], acting_user=user, channel=CHANNEL)
        except InputError as exc:
            errors[exc.field] = exc.message
            status = 400
        except Iliad7Error as exc:
            errors["general"] = str(exc)
            status = 409
        else:
            messages.success(request, f"Drug {kind} of lot {typed['lot']} recorded.")
            return redirect("web:pharmacy-stock", site_code=site.code)
    context = {
        "site": site,
        "accountability": actions.drug_accountability(site_code=site.code, acting_user=user),
        "movement": kind,
        "typed": typed,
        "errors": errors,
    }
    return render(request, "iliad7/web/pharmacy_stock.html", context, status=status)
