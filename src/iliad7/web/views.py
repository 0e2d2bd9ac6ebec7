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
from iliad7.errors import AccessDenied, Iliad7Error, InputError, NotFound, ReauthenticationFailed
from iliad7.store import access, actions
from iliad7.web import reads, screening_form

CHANNEL = "web"
View = Callable[..., HttpResponseBase]


def _error_page(request: HttpRequest, status: int, title: str, message: str) -> HttpResponse:
    return render(request, "iliad7/web/error.html", {"title": title, "message": message}, status=status)


def page(view: View) -> View:
    """Login required; the store's NotFound and AccessDenied become 404 and 403 pages."""

    @wraps(view)
    def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        try:
            return view(request, *args, **kwargs)
        except NotFound:
            return _error_page(request, 404, "Not found", "There is no such participant, or it is not yours to see.")
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
    if isinstance(exc, InputError | ReauthenticationFailed):
        return f"{exc.field}: {getattr(exc, 'message', exc)}"
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
    }
    return render(request, "iliad7/web/home.html", context)


@page
def participant_list(request: HttpRequest) -> HttpResponse:
    user = _user(request)
    participants = list(access.visible_participants(user).order_by("screening_number"))
    screen_sites = list(access.visible_sites(user, Capability.SCREEN_PARTICIPANT))
    return render(
        request,
        "iliad7/web/participants.html",
        {"participants": participants, "screen_sites": screen_sites},
    )


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


@page
def participant_detail(request: HttpRequest, screening_number: str) -> HttpResponse:
    user = _user(request)
    participant = _participant(request, screening_number)
    site = participant.site
    _record, saved = reads.screening_data(participant)
    plan = reads.full_calendar(participant)
    day0, visits = plan.day0, plan.visits
    can_screen = access.can(user, Capability.SCREEN_PARTICIPANT, site)
    tasks = []
    if can_screen:
        tasks = [t for t in actions.open_reconsent_tasks(user) if t.participant.pk == participant.pk]
    context = {
        "participant": participant,
        "screening": reads.saved_verdict(saved),
        "saved_screening": saved,
        "consents": actions.consents_of(participant),
        "randomization": actions.randomization_of(participant),
        "doses": _dose_rows(actions.doses_given(participant)),
        "day0": day0,
        "visits": visits,
        "items": reads.items_with_history(participant),
        "can_record": access.can(user, Capability.RECORD_DATA, site),
        "can_screen": can_screen,
        "can_consent": access.can(user, Capability.RECORD_CONSENT, site),
        "can_randomize": access.can(user, Capability.RANDOMIZE, site),
        "can_unblind": access.can(user, Capability.UNBLIND, site) and bool(participant.usubjid),
        "can_dose": access.can(user, Capability.RECORD_DOSE, site) and bool(participant.usubjid),
        "pharmacist": access.can(user, Capability.PREPARE_DOSE, site),
        "reconsent_tasks": tasks,
        "dose_choices": _dose_choices(),
    }
    return render(request, "iliad7/web/participant.html", context)


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


@page
@require_POST
def item_record(request: HttpRequest, screening_number: str) -> HttpResponseBase:
    participant = _participant(request, screening_number)
    post = request.POST
    try:
        instance_text = post.get("instance", "1").strip() or "1"
        if not instance_text.isdigit():
            raise InputError("instance", "give a whole number")
        from iliad7.store.actions.items import record_form_item

        record_form_item(
            participant,
            form=post.get("form", ""),
            item=post.get("item", ""),
            value=post.get("value", ""),
            unit=post.get("unit", ""),
            visit=post.get("visit", ""),
            instance=int(instance_text),
            acting_user=_user(request),
            channel=CHANNEL,
            reason=post.get("reason", ""),
        )
    except InputError as exc:
        messages.error(request, _refusal(exc))
    else:
        messages.success(request, "Value recorded.")
    return redirect("web:participant", screening_number=screening_number)


@page
@require_POST
def dose_given(request: HttpRequest, screening_number: str) -> HttpResponseBase:
    """Record a dose given at the bedside (site staff); the action checks the window and the 72 h."""
    participant = _participant(request, screening_number)
    post = request.POST
    try:
        number = post.get("dose_number", "").strip()
        if not number.isdigit():
            raise InputError("dose_number", "give the dose number (1 to 7)")
        actions.record_dose_given(
            participant,
            int(number),
            given_at=_utc(post.get("given_at", ""), "given_at"),
            injection_site=post.get("injection_site", ""),
            volume_ml=_decimal(post.get("volume_ml", ""), "volume_ml"),
            local_reaction=post.get("local_reaction", "").strip() or "none",
            acting_user=_user(request),
            channel=CHANNEL,
        )
    except Iliad7Error as exc:
        messages.error(request, f"Dose not recorded: {_refusal(exc)}")
    else:
        messages.success(request, f"Dose {number} recorded.")
    return redirect("web:participant", screening_number=screening_number)


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
            )
        except (InputError, ReauthenticationFailed) as exc:
            errors[exc.field] = str(exc)
            status = 400
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
    events = actions.unblinding_events(_user(request))
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
    if request.method == "GET":
        typed["weight_kg"] = "" if weight is None else str(weight)
        typed["concentration_ug_per_ml"] = settings.ILIAD7_CONCENTRATION_UG_PER_ML
    errors: dict[str, str] = {}
    status = 200
    if request.method == "POST":
        try:
            number = typed["dose_number"].strip()
            if not number.isdigit():
                raise InputError("dose_number", "give the dose number (1 to 7)")
            prepared = actions.prepare_dose(
                participant,
                int(number),
                weight_kg=_decimal(typed["weight_kg"], "weight_kg"),
                concentration_ug_per_ml=_decimal(typed["concentration_ug_per_ml"], "concentration_ug_per_ml"),
                lot=typed["lot"],
                acting_user=user,
                channel=CHANNEL,
            )
        except InputError as exc:
            errors[exc.field] = exc.message
            status = 400
        except Iliad7Error as exc:
            errors["general"] = str(exc)
            status = 409
        else:
            messages.success(request, f"Syringe {prepared.label} prepared.")
            return redirect("web:pharmacy", screening_number=screening_number)
    arm = access.access_allocation(user, participant) if participant.usubjid else None
    context = {
        "participant": participant,
        "arm": arm,
        "randomization": actions.randomization_of(participant),
        "worksheet": actions.pharmacy_worksheet(participant, acting_user=user),
        "typed": typed,
        "errors": errors,
        "accountability": actions.drug_accountability(site_code=participant.site.code, acting_user=user),
    }
    return render(request, "iliad7/web/pharmacy.html", context, status=status)


# ---------------------------------------------------------------- audit


@page
def audit_trail(request: HttpRequest) -> HttpResponse:
    records = reads.audit_records(_user(request))
    return render(request, "iliad7/web/audit.html", {"records": records})


DRUG_MOVEMENTS = ("receipt", "wastage", "return")


@page
@require_http_methods(["GET", "POST"])
def pharmacy_stock(request: HttpRequest, site_code: str) -> HttpResponse:
    """A site pharmacy's drug accountability, and the forms to receive, waste or return vials."""
    user = _user(request)
    site = access.visible_sites(user, Capability.DRUG_ACCOUNTABILITY).filter(code=site_code).first()
    if site is None:
        raise NotFound(site_code)
    kind = request.POST.get("movement", "")
    typed = {k: request.POST.get(k, "") for k in ("lot", "expiry", "vials", "reason")}
    errors: dict[str, str] = {}
    status = 200
    if request.method == "POST":
        try:
            if kind not in DRUG_MOVEMENTS:
                raise InputError("movement", f"one of {', '.join(DRUG_MOVEMENTS)}")
            vials_text = typed["vials"].strip()
            if not vials_text.isdigit():
                raise InputError("vials", "give a whole number of vials")
            common = {"site_code": site.code, "lot": typed["lot"], "vials": int(vials_text)}
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
