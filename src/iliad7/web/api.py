"""The JSON API (django-ninja) under /api/, its OpenAPI document at /api/openapi.json (signed-in users).

Session authentication (the same sign-in and second factor as the pages),
CSRF checked on every unsafe method. Endpoints are thin: guarded reads from
`iliad7.store.access`, one action per write with channel `api`, the pure
`iliad7.eligibility` for verdicts. Errors name the field:
`{"detail": [...], "field": "..."}` with 422 for input that does not fit the
schema and 400 for a value an action refuses; 403 and 404 as the store
answers (another site's participant is 404, like a missing one); 409 for a
refusal of the trial's rules (a status change, a randomization).
"""

from __future__ import annotations

import dataclasses
from datetime import date, datetime
from decimal import Decimal
from typing import Any, Literal

from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.http import HttpRequest, HttpResponse
from ninja import Field, NinjaAPI, Path, Query, Schema
from ninja.errors import AuthenticationError, HttpError
from ninja.errors import ValidationError as NinjaValidationError
from ninja.security import SessionAuth
from pydantic import AwareDatetime
from pydantic import ValidationError as PydanticValidationError

from iliad7.errors import AccessDenied, Iliad7Error, InputError, NotFound, ReauthenticationFailed, TooManyAttempts
from iliad7.inputs import DB_ID_MAX, DB_INT_MAX, MAX_INSTANCE
from iliad7.store import access, actions
from iliad7.web import reads, screening_form
from iliad7.web.schemas import ErrorOut

CHANNEL = "api"


def _signed_in_only(view: Any) -> Any:
    """The OpenAPI document (and its page) for signed-in users only: it maps the whole trial's interface."""
    from functools import wraps

    from django.http import JsonResponse

    @wraps(view)
    def guarded(request: HttpRequest, *args: Any, **kwargs: Any) -> Any:
        if not request.user.is_authenticated:
            return JsonResponse({"detail": "sign in at /accounts/login/ first"}, status=401)
        return view(request, *args, **kwargs)

    return guarded


api = NinjaAPI(
    docs_decorator=_signed_in_only,
    title="iliad7 — ILIAD-7-US-O (NCT04426201)",
    version="1",
    description=(
        "The trial's JSON API. Sign in at /accounts/login/ (and the second factor where the role needs it); "
        "send the session cookie, and the CSRF token in X-CSRFToken on POST. No response ever carries a "
        "blinded user's treatment arm."
    ),
    auth=SessionAuth(csrf=True),
    urls_namespace="api",
)


# ---------------------------------------------------------------- errors


def _error(request: HttpRequest, status: int, detail: Any, field: str | None = None) -> HttpResponse:
    body: dict[str, Any] = {"detail": detail}
    if field is not None:
        body["field"] = field
    return api.create_response(request, body, status=status)


def _loc_path(loc: Any) -> str:
    # ninja prefixes the parameter's origin ("body", "path", "query") and the body's name.
    parts = [str(p) for p in loc if p not in ("body", "query", "path", "payload", "sofa-score", "sofa-inputs")]
    return ".".join(parts)


@api.exception_handler(NinjaValidationError)
def _schema_error(request: HttpRequest, exc: NinjaValidationError) -> HttpResponse:
    detail = [
        {"loc": list(e.get("loc", ())), "msg": str(e.get("msg", "")), "type": str(e.get("type", ""))}
        for e in exc.errors
    ]
    field = _loc_path(exc.errors[0].get("loc", ())) if exc.errors else ""
    return _error(request, 422, detail, field or "body")


@api.exception_handler(InputError)
def _input_error(request: HttpRequest, exc: InputError) -> HttpResponse:
    return _error(request, 400, [{"loc": [exc.field], "msg": exc.message, "type": "value_error"}], exc.field)


@api.exception_handler(ReauthenticationFailed)
def _reauth_error(request: HttpRequest, exc: ReauthenticationFailed) -> HttpResponse:
    return _error(request, 403, [{"loc": [exc.field], "msg": str(exc), "type": "reauthentication"}], exc.field)


@api.exception_handler(TooManyAttempts)
def _too_many(request: HttpRequest, exc: TooManyAttempts) -> HttpResponse:
    response = _error(request, 429, str(exc), "credentials")
    response["Retry-After"] = str(exc.retry_after)
    return response


@api.exception_handler(NotFound)
def _not_found(request: HttpRequest, exc: NotFound) -> HttpResponse:
    return _error(request, 404, "not found")


@api.exception_handler(AccessDenied)
def _denied(request: HttpRequest, exc: AccessDenied) -> HttpResponse:
    return _error(request, 403, str(exc))


@api.exception_handler(Iliad7Error)
def _refused(request: HttpRequest, exc: Iliad7Error) -> HttpResponse:
    return _error(request, 409, str(exc))


@api.exception_handler(HttpError)
def _http_error(request: HttpRequest, exc: HttpError) -> HttpResponse:
    # ninja's own errors; its only 400 is a body that does not parse, named as the screening endpoints name it.
    if exc.status_code == 400:
        return _error(request, 400, [{"loc": ["body"], "msg": str(exc), "type": "json_invalid"}], "body")
    return _error(request, exc.status_code, str(exc))


@api.exception_handler(RequestDataTooBig)
def _too_big(request: HttpRequest, exc: RequestDataTooBig) -> HttpResponse:
    limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
    detail = [{"loc": ["body"], "msg": f"the body is larger than {limit} bytes", "type": "too_large"}]
    return _error(request, 413, detail, "body")


@api.exception_handler(AuthenticationError)
def _unauthenticated(request: HttpRequest, exc: AuthenticationError) -> HttpResponse:
    return _error(request, 401, "sign in at /accounts/login/ first")


def _screening_422(request: HttpRequest, exc: PydanticValidationError) -> HttpResponse:
    detail = [
        {"loc": [p for p in e["loc"] if p not in ("sofa-score", "sofa-inputs")], "msg": e["msg"], "type": e["type"]}
        for e in exc.errors(include_url=False, include_input=False)
    ]
    messages = screening_form.validation_messages(exc)
    field = next(iter(messages), "") or "record"
    return _error(request, 422, detail, field)


# ---------------------------------------------------------------- schemas


class SiteOut(Schema):
    code: str
    name: str


class ParticipantOut(Schema):
    screening_number: str
    usubjid: str | None
    site: str
    status: str


class ParticipantIn(Schema):
    site: str = Field(max_length=16, description="Site code, e.g. MSKCC; one of the acting user's sites")
    screening_number: str | None = Field(
        None,
        max_length=64,
        description="The site's code, -S and 3 to 6 digits (MSKCC-S001), upper-cased; leave out to have the "
        "next number assigned",
    )


class CriterionOut(Schema):
    id: str
    status: Literal["pass", "fail", "unknown"]
    reason: str
    missing: list[str]


class VerdictOut(Schema):
    verdict: Literal["eligible", "ineligible", "incomplete"]
    criteria: list[CriterionOut]
    failed: list[str]
    unknown: list[str]


class ItemVersionOut(Schema):
    version: int
    value: str
    unit: str
    recorded_by: str
    recorded_at: datetime
    reason: str
    channel: str


class ItemOut(Schema):
    form: str
    visit: str
    instance: int
    item: str
    value: str
    unit: str
    versions: list[ItemVersionOut]


class ItemIn(Schema):
    # Limits are the columns' (store/models.py ItemValue): longer text is refused here, by field,
    # rather than failing in the database.
    form: str = Field(max_length=64)
    item: str = Field(max_length=64)
    value: str = Field(max_length=2000)
    unit: str = Field("", max_length=32)
    visit: str = Field("", max_length=64)
    instance: int = Field(1, ge=1, le=MAX_INSTANCE)
    reason: str = Field("", max_length=2000, description="Required for a correction")


class RandomizationOut(Schema):
    usubjid: str
    randomization_number: str
    kit_code: str


class ConsentOut(Schema):
    consent_type: str
    given_by: str
    obtained_at: datetime
    form_version: str
    obtained_by: str
    is_reconsent: bool
    recorded_by: str


class ParticipantDetailOut(ParticipantOut):
    screening: VerdictOut | None
    randomization: RandomizationOut | None
    consents: list[ConsentOut]
    items: list[ItemOut]


class ScreeningOut(Schema):
    version: int | None
    recorded_by: str | None
    recorded_at: datetime | None
    reason: str | None
    record: dict[str, Any] | None
    verdict: VerdictOut | None


class ReasonIn(Schema):
    reason: str


class ConsentIn(Schema):
    consent_type: Literal["written", "emergency_oral"]
    given_by: Literal["participant", "legally_authorized_representative"]
    obtained_at: AwareDatetime
    form_version: str = Field(min_length=1)
    obtained_by: str = Field(min_length=1, description="Who obtained consent")


class RandomizeIn(Schema):
    confirmation: bool = Field(description="The investigator's explicit confirmation; false is refused")


class UnblindIn(Schema):
    reason: str = Field(min_length=1)
    otp_token: str = Field(min_length=1)


class UnblindOut(Schema):
    screening_number: str
    revealed_allocation: str


class VisitOut(Schema):
    visit: str
    name: str
    dose: int | None
    target_day: int
    target_date: date
    first_date: date
    last_date: date
    status: str
    reason: str | None
    started: bool = Field(
        False, description="Some of the visit's forms are saved, not all (a visit is done when all are)"
    )


class PlannedDoseOut(Schema):
    dose: int
    target_day: int
    target_date: date
    window_opens: datetime
    window_closes: datetime
    status: Literal["given", "upcoming", "due", "missed", "not_applicable"]
    reason: str | None
    given_at: datetime | None
    deviation: str | None


class CalendarOut(Schema):
    day0: date | None
    dose1_given: bool
    discharge_date: date | None
    death_date: date | None
    withdrawal_date: date | None
    visits: list[VisitOut]
    doses: list[PlannedDoseOut] = Field(description="The dose plan (clinical-rules section 4) once dose 1 is given")
    data_cut: datetime | None = Field(None, description="Follow-up entered up to here: statuses are read at it")


class AuditVerifyOut(Schema):
    ok: bool
    records: int
    first_broken: dict[str, Any] | None
    reconciliation: dict[str, Any] | None = None  # {"ok", "checked", "problem_count"}: no rows over the API
    checkpoints: dict[str, Any] | None = None  # the chain against its signed checkpoints (iliad7.audit.anchor)


class AuditRecordOut(Schema):
    id: int
    at: datetime
    actor: str
    role: str
    channel: str
    action: str
    object_type: str
    object_id: str
    reason: str


# ---------------------------------------------------------------- helpers


def _created(body: Any) -> Any:
    """A 201 answer; ninja 1.5+ spells it Status(201, body), older versions take a tuple."""
    try:
        from ninja import Status
    except ImportError:  # pragma: no cover - ninja < 1.5
        return 201, body
    return Status(201, body)


def _user(request: HttpRequest) -> Any:
    return request.user


def _consent_out(c: Any) -> dict[str, Any]:
    return {
        "consent_type": c.consent_type,
        "given_by": c.given_by,
        "obtained_at": c.obtained_at,
        "form_version": c.form_version,
        "obtained_by": c.obtained_by,
        "is_reconsent": c.is_reconsent,
        "recorded_by": c.recorded_by.username,
    }


def _participant_out(p: Any) -> dict[str, Any]:
    return {"screening_number": p.screening_number, "usubjid": p.usubjid, "site": p.site.code, "status": p.status}


def _items_out(participant: Any) -> list[dict[str, Any]]:
    return [
        {
            "form": row.form,
            "visit": row.visit,
            "instance": row.instance,
            "item": row.item,
            "value": row.current.value,
            "unit": row.current.unit,
            "versions": [
                {
                    "version": v.version,
                    "value": v.value,
                    "unit": v.unit,
                    "recorded_by": v.recorded_by.username,
                    "recorded_at": v.recorded_at,
                    "reason": v.reason,
                    "channel": v.channel,
                }
                for v in row.versions
            ],
        }
        for row in reads.items_with_history(participant)
    ]


def _screening_out(participant: Any) -> dict[str, Any]:
    record, saved = reads.screening_data(participant)
    return {
        "version": None if saved is None else saved.version,
        "recorded_by": None if saved is None else saved.recorded_by.username,
        "recorded_at": None if saved is None else saved.recorded_at,
        "reason": None if saved is None else saved.reason,
        "record": record,
        "verdict": reads.saved_verdict(saved),
    }


def _plain(value: Any) -> Any:
    """A JSON-ready copy of what an action returned (dicts, dataclasses, model rows, times)."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [_plain(v) for v in value]
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    if value is None or isinstance(value, str | int | float | bool):
        return value
    if hasattr(value, "_meta"):  # a model row: its concrete fields, related rows by their str()
        return {
            f.name: _plain(getattr(value, f.attname)) if not f.is_relation else str(getattr(value, f.name))
            for f in value._meta.concrete_fields
        }
    return str(value)


def _record_schema() -> dict[str, Any]:
    """The screening record's JSON schema with its $defs inlined (OpenAPI has no $defs)."""
    from iliad7.eligibility.record import SCREENING_RECORD

    schema = SCREENING_RECORD.json_schema()
    defs = schema.pop("$defs", {})

    def inline(node: Any) -> Any:
        if isinstance(node, dict):
            if "$ref" in node:
                return inline(defs[node["$ref"].rsplit("/", 1)[1]])
            return {k: inline(v) for k, v in node.items()}
        if isinstance(node, list):
            return [inline(v) for v in node]
        return node

    return inline(schema)  # type: ignore[no-any-return]


_RECORD_BODY = {
    "requestBody": {
        "required": True,
        "description": "A screening record (clinical-rules section 3); absent or null fields are missing.",
        "content": {"application/json": {"schema": _record_schema()}},
    }
}


# ---------------------------------------------------------------- sites and participants


@api.get("/sites", response=list[SiteOut], tags=["sites"])
def list_sites(request: HttpRequest) -> list[dict[str, str]]:
    """The protocol's sites."""
    from iliad7.store.models import Site

    return [{"code": s.code, "name": s.name} for s in Site.objects.order_by("id")]


@api.get("/participants", response=list[ParticipantOut], tags=["participants"])
def list_participants(request: HttpRequest) -> list[dict[str, Any]]:
    """The participants the signed-in user may see (by role and site); never an arm."""
    return [_participant_out(p) for p in access.visible_participants(_user(request)).order_by("screening_number")]


@api.post(
    "/participants", response={201: ParticipantOut, 400: ErrorOut, 403: ErrorOut, 422: ErrorOut}, tags=["participants"]
)
def create_participant(request: HttpRequest, payload: ParticipantIn) -> Any:
    """Screen a new participant at one of the user's sites (status `screened`)."""
    from iliad7.store.actions import create_participant as create

    participant = create(
        site=payload.site,
        acting_user=_user(request),
        channel=CHANNEL,
        screening_number=payload.screening_number,
    )
    return _created(_participant_out(participant))


@api.get(
    "/participants/{screening_number}",
    response={200: ParticipantDetailOut, 404: ErrorOut},
    tags=["participants"],
)
def get_participant(request: HttpRequest, screening_number: str) -> dict[str, Any]:
    """One participant: status, the saved screening's verdict, current item values with their versions."""
    participant = access.access_participant(_user(request), screening_number)
    _record, saved = reads.screening_data(participant)
    return {
        **_participant_out(participant),
        "screening": reads.saved_verdict(saved),
        "randomization": _plain(actions.randomization_of(participant)),
        "consents": [_consent_out(c) for c in actions.consents_of(participant)],
        "items": _items_out(participant),
    }


@api.get(
    "/participants/{screening_number}/calendar",
    response={200: CalendarOut, 404: ErrorOut},
    tags=["participants"],
)
def get_calendar(request: HttpRequest, screening_number: str) -> dict[str, Any]:
    """The visit calendar once randomized (day 0 is today until dose 1 is recorded), statuses after discharge,
    death or withdrawal, and the dose plan."""
    participant = access.access_participant(_user(request), screening_number)
    plan = reads.full_calendar(participant)
    return {
        "day0": plan.day0,
        "dose1_given": plan.dose1_given,
        "discharge_date": plan.discharge_date,
        "death_date": plan.death_date,
        "withdrawal_date": plan.withdrawal_date,
        "data_cut": plan.data_cut,
        "visits": [dataclasses.asdict(v) for v in plan.visits],
        "doses": [dataclasses.asdict(d) for d in plan.doses],
    }


@api.get(
    "/participants/{screening_number}/items",
    response={200: list[ItemOut], 404: ErrorOut},
    tags=["items"],
)
def list_items(request: HttpRequest, screening_number: str) -> list[dict[str, Any]]:
    """Every item value of the participant, current value first, with who/when/why of each version."""
    participant = access.access_participant(_user(request), screening_number)
    return _items_out(participant)


@api.post(
    "/participants/{screening_number}/items",
    response={201: ItemOut, 400: ErrorOut, 403: ErrorOut, 404: ErrorOut, 422: ErrorOut},
    tags=["items"],
)
def record_item(request: HttpRequest, screening_number: str, payload: ItemIn) -> Any:
    """Record an item value of a protocol form, or correct it (a correction needs a reason and adds a version).

    The value is checked against the form first: an unknown form or item, a visit the form is not filled at,
    a value not of the item's type, a unit it does not accept or a value outside its physical range is 400
    naming `form`, `item`, `visit`, `value` or `unit`, and nothing is stored. STUDY-DRUG is written by
    recording the dose (`POST .../doses`)."""
    from iliad7.store.actions.items import record_form_item

    participant = access.access_participant(_user(request), screening_number)
    version = record_form_item(
        participant,
        form=payload.form,
        item=payload.item,
        value=payload.value,
        unit=payload.unit,
        visit=payload.visit,
        instance=payload.instance,
        acting_user=_user(request),
        channel=CHANNEL,
        reason=payload.reason,
    )
    row = next(
        i
        for i in _items_out(participant)
        if (i["form"], i["visit"], i["instance"], i["item"])
        == (version.form, version.visit, version.instance, version.item)
    )
    return _created(row)


# ---------------------------------------------------------------- screening


def _parse_body(request: HttpRequest) -> tuple[dict[str, Any] | None, HttpResponse | None]:
    import orjson

    from iliad7.eligibility import parse_record

    try:
        data = orjson.loads(request.body or b"")
    except orjson.JSONDecodeError as exc:
        return None, _error(request, 422, [{"loc": ["body"], "msg": str(exc), "type": "json_invalid"}], "body")
    if not isinstance(data, dict):
        return None, _error(
            request, 422, [{"loc": ["body"], "msg": "a JSON object is required", "type": "dict_type"}], "body"
        )
    try:
        parse_record(data)
    except PydanticValidationError as exc:
        return None, _screening_422(request, exc)
    return data, None


@api.post(
    "/screening/evaluate",
    response={200: VerdictOut, 422: ErrorOut},
    tags=["screening"],
    openapi_extra=_RECORD_BODY,
)
def evaluate_screening(request: HttpRequest) -> Any:
    """The verdict on a screening record and each criterion's reason (pure; nothing is stored)."""
    from iliad7.eligibility import parse_record, screen

    data, problem = _parse_body(request)
    if problem is not None:
        return problem
    return screen(parse_record(data)).as_contract()  # type: ignore[arg-type]


@api.get(
    "/participants/{screening_number}/screening",
    response={200: ScreeningOut, 404: ErrorOut},
    tags=["screening"],
)
def get_screening(request: HttpRequest, screening_number: str) -> dict[str, Any]:
    """The latest saved screening record and its verdict (both null before one is saved)."""
    participant = access.access_participant(_user(request), screening_number)
    return _screening_out(participant)


@api.post(
    "/participants/{screening_number}/screening",
    response={201: ScreeningOut, 400: ErrorOut, 403: ErrorOut, 404: ErrorOut, 409: ErrorOut, 422: ErrorOut},
    tags=["screening"],
    openapi_extra=_RECORD_BODY,
)
def save_screening(request: HttpRequest, screening_number: str) -> Any:
    """Save a screening record as a new version (incomplete records can be saved and resumed).

    A later save that changes or removes a saved value is a correction and needs `?reason=...` (kept in the
    audit trail; 400 naming `reason` without one); one that only fills in values not given before needs none.
    """
    participant = access.access_participant(_user(request), screening_number)
    data, problem = _parse_body(request)
    if problem is not None:
        return problem
    reason = request.GET.get("reason", "")
    actions.save_screening(participant, data, acting_user=_user(request), channel=CHANNEL, reason=reason)  # type: ignore[arg-type]
    return _created(_screening_out(participant))


@api.post(
    "/participants/{screening_number}/screen-failure",
    response={200: ParticipantOut, 400: ErrorOut, 403: ErrorOut, 404: ErrorOut, 409: ErrorOut, 422: ErrorOut},
    tags=["screening"],
)
def screen_failure(request: HttpRequest, screening_number: str, payload: ReasonIn) -> dict[str, Any]:
    """Record a screen failure with its reason."""
    participant = access.access_participant(_user(request), screening_number)
    actions.record_screen_failure(participant, acting_user=_user(request), channel=CHANNEL, reason=payload.reason)
    participant.refresh_from_db()
    return _participant_out(participant)


@api.get("/screening-log", response={200: dict[str, dict[str, Any]], 404: ErrorOut, 422: ErrorOut}, tags=["screening"])
def get_screening_log(request: HttpRequest, site: str | None = None) -> Any:
    """Per visible site: screened, by latest verdict, failed, consented, randomized, and ineligible by criterion."""
    return _plain(actions.screening_log(_user(request), site_code=site))


# ---------------------------------------------------------------- consent and randomization


@api.post(
    "/participants/{screening_number}/consent",
    response={201: ConsentOut, 400: ErrorOut, 403: ErrorOut, 404: ErrorOut, 409: ErrorOut, 422: ErrorOut},
    tags=["consent"],
)
def record_consent(request: HttpRequest, screening_number: str, payload: ConsentIn) -> Any:
    """Record consent (type, given by, time, form version, obtained by); an emergency oral one opens a task."""
    participant = access.access_participant(_user(request), screening_number)
    result = actions.record_consent(
        participant,
        consent_type=payload.consent_type,
        given_by=payload.given_by,
        obtained_at=payload.obtained_at,
        form_version=payload.form_version,
        obtained_by=payload.obtained_by,
        acting_user=_user(request),
        channel=CHANNEL,
    )
    return _created(_consent_out(result))


class ReconsentIn(Schema):
    obtained_at: AwareDatetime
    form_version: str = Field(min_length=1)
    obtained_by: str = Field(min_length=1)
    given_by: Literal["participant", "legally_authorized_representative"] = "participant"


@api.post(
    "/participants/{screening_number}/reconsent",
    response={201: ConsentOut, 400: ErrorOut, 403: ErrorOut, 404: ErrorOut, 409: ErrorOut, 422: ErrorOut},
    tags=["consent"],
)
def record_reconsent(request: HttpRequest, screening_number: str, payload: ReconsentIn) -> Any:
    """The written re-consent that closes the task an emergency oral consent opened."""
    participant = access.access_participant(_user(request), screening_number)
    result = actions.complete_reconsent(
        participant,
        obtained_at=payload.obtained_at,
        form_version=payload.form_version,
        obtained_by=payload.obtained_by,
        given_by=payload.given_by,
        acting_user=_user(request),
        channel=CHANNEL,
    )
    return _created(_consent_out(result))


class ReconsentTaskOut(Schema):
    screening_number: str
    site: str
    opened_at: datetime = Field(description="When the emergency oral consent was recorded (the task opened)")
    consent_obtained_at: datetime = Field(description="When the emergency oral consent was obtained")


@api.get("/reconsent-tasks", response=list[ReconsentTaskOut], tags=["consent"])
def reconsent_tasks(request: HttpRequest) -> Any:
    """Open re-consent tasks (after an emergency oral consent) of the participants the user may see."""
    return [
        {
            "screening_number": t.participant.screening_number,
            "site": t.participant.site.code,
            "opened_at": t.opened_at,
            "consent_obtained_at": t.opened_by_consent.obtained_at,
        }
        for t in actions.open_reconsent_tasks(_user(request))
    ]


@api.post(
    "/participants/{screening_number}/randomize",
    response={200: RandomizationOut, 400: ErrorOut, 403: ErrorOut, 404: ErrorOut, 409: ErrorOut, 422: ErrorOut},
    tags=["randomization"],
)
def randomize(request: HttpRequest, screening_number: str, payload: RandomizeIn) -> dict[str, Any]:
    """Randomize an eligible, consented participant (investigator, with confirmation); never returns the arm."""
    participant = access.access_participant(_user(request), screening_number)
    result = actions.randomize_participant(
        participant, acting_user=_user(request), confirmation=payload.confirmation, channel=CHANNEL
    )
    return result.as_dict()


@api.post(
    "/participants/{screening_number}/unblind",
    response={
        200: UnblindOut,
        400: ErrorOut,
        403: ErrorOut,
        404: ErrorOut,
        409: ErrorOut,
        422: ErrorOut,
        429: ErrorOut,
    },
    tags=["randomization"],
)
def unblind(request: HttpRequest, screening_number: str, payload: UnblindIn) -> dict[str, Any]:
    """Emergency unblinding of one participant by an investigator (reason and TOTP code); audited."""
    participant = access.access_participant(_user(request), screening_number)
    revealed = actions.unblind_participant(
        participant, acting_user=_user(request), reason=payload.reason, otp_token=payload.otp_token, channel=CHANNEL,
        source=request,
    )  # fmt: skip
    return {"screening_number": participant.screening_number, "revealed_allocation": str(revealed)}


class UnblindingEventOut(Schema):
    id: int
    screening_number: str
    usubjid: str | None
    site: str
    unblinded_by: str
    unblinded_at: str
    reason: str
    channel: str


@api.get("/unblinding-events", response={200: list[UnblindingEventOut], 403: ErrorOut}, tags=["randomization"])
def unblinding_events(request: HttpRequest) -> Any:
    """Emergency unblindings (sponsor viewer, DSMB, data manager): which participant, who, when, why; no arm."""
    return actions.unblinding_events(_user(request), channel=CHANNEL)


# ---------------------------------------------------------------- doses and pharmacy

from iliad7.store.actions.pharmacy import CONCENTRATION_MAX, VIALS_MAX, VOLUME_ML_MAX, WEIGHT_KG_MAX  # noqa: E402


class DoseIn(Schema):
    dose_number: int = Field(ge=1, le=DB_INT_MAX)
    given_at: AwareDatetime
    injection_site: str = Field(
        min_length=1,
        max_length=64,
        description="A STUDY-DRUG choice: left_deltoid, right_deltoid, left_thigh, right_thigh, other",
    )
    volume_ml: Decimal = Field(gt=0, le=VOLUME_ML_MAX, decimal_places=2)
    local_reaction: str = Field(
        "none", max_length=64, description="A STUDY-DRUG choice: none, erythema, swelling, pain, induration, other"
    )


class DoseOut(Schema):
    dose_number: int
    given_at: datetime
    injection_site: str
    volume_ml: Decimal
    local_reaction: str
    recorded_by: str
    version: int = 1  # 2, 3, ... after signed corrections (the values are the latest version's)


class DoseCorrectionIn(Schema):
    reason: str = Field(min_length=1, max_length=2000)
    password: str = Field(min_length=1, max_length=4096)
    otp_token: str = Field(min_length=1, max_length=16)
    given_at: AwareDatetime | None = None
    injection_site: str | None = Field(None, min_length=1, max_length=64)
    volume_ml: Decimal | None = Field(None, gt=0, le=VOLUME_ML_MAX, decimal_places=2)
    local_reaction: str | None = Field(None, min_length=1, max_length=64)


def _dose_out(d: Any) -> dict[str, Any]:
    return {
        "dose_number": d.dose_number,
        "given_at": d.given_at,
        "injection_site": d.injection_site,
        "volume_ml": d.volume_ml,
        "local_reaction": d.local_reaction,
        "recorded_by": d.recorded_by.username,
        "version": getattr(d, "version", 1),
    }


@api.get("/participants/{screening_number}/doses", response={200: list[DoseOut], 404: ErrorOut}, tags=["doses"])
def list_doses(request: HttpRequest, screening_number: str) -> Any:
    """Doses given (blinded-safe: the same for both arms)."""
    participant = access.access_participant(_user(request), screening_number)
    return [_dose_out(d) for d in actions.doses_given(participant)]


@api.post(
    "/participants/{screening_number}/doses",
    response={201: DoseOut, 400: ErrorOut, 403: ErrorOut, 404: ErrorOut, 409: ErrorOut, 422: ErrorOut},
    tags=["doses"],
)
def record_dose(request: HttpRequest, screening_number: str, payload: DoseIn) -> Any:
    """Record a dose given at the bedside; refused before randomization, outside its window, within 72 h, after
    discharge... It also writes the STUDY-DRUG form of the dose's visit (the form cannot be saved as given
    otherwise)."""
    participant = access.access_participant(_user(request), screening_number)
    dose = actions.record_dose_given(
        participant,
        payload.dose_number,
        given_at=payload.given_at,
        injection_site=payload.injection_site,
        volume_ml=payload.volume_ml,
        local_reaction=payload.local_reaction,
        acting_user=_user(request),
        channel=CHANNEL,
    )
    return _created(_dose_out(dose))


@api.post(
    "/participants/{screening_number}/doses/{dose_number}/correction",
    response={201: DoseOut, 400: ErrorOut, 403: ErrorOut, 404: ErrorOut, 409: ErrorOut, 422: ErrorOut},
    tags=["doses"],
)
def correct_dose(request: HttpRequest, screening_number: str, dose_number: int, payload: DoseCorrectionIn) -> Any:
    """Correct a dose given: a new version (never an update) with a reason, signed by the site's investigator
    (password and second factor again); checked like a new dose; the STUDY-DRUG form follows."""
    participant = access.access_participant(_user(request), screening_number)
    actions.correct_dose(
        participant, dose_number, reason=payload.reason, password=payload.password, otp_token=payload.otp_token,
        acting_user=_user(request), channel=CHANNEL, given_at=payload.given_at, injection_site=payload.injection_site,
        volume_ml=payload.volume_ml, local_reaction=payload.local_reaction, source=request,
    )  # fmt: skip
    return _created(_dose_out(next(d for d in actions.doses_given(participant) if d.dose_number == dose_number)))


class PrepareIn(Schema):
    dose_number: int = Field(ge=1, le=DB_INT_MAX)
    weight_kg: Decimal = Field(gt=0, le=WEIGHT_KG_MAX, decimal_places=2)
    concentration_ug_per_ml: Decimal = Field(gt=0, le=CONCENTRATION_MAX, decimal_places=3)
    lot: str = Field(min_length=1, max_length=64)
    prepared_at: AwareDatetime | None = None


class PreparationOut(Schema):
    label: str
    dose_number: int
    weight_kg: Decimal
    dose_ug: int
    concentration_ug_per_ml: Decimal
    volume_ml: Decimal
    contents: str
    lot: str
    expiry: date
    prepared_by: str
    prepared_at: datetime


@api.get(
    "/participants/{screening_number}/pharmacy/worksheet",
    response={200: list[PreparationOut], 403: ErrorOut, 404: ErrorOut},
    tags=["pharmacy"],
)
def pharmacy_worksheet(request: HttpRequest, screening_number: str) -> Any:
    """The unblinded pharmacist's worksheet for one participant (403 for every other role)."""
    participant = access.access_participant(_user(request), screening_number)
    return [_plain(w) for w in actions.pharmacy_worksheet(participant, acting_user=_user(request), channel=CHANNEL)]


@api.post(
    "/participants/{screening_number}/pharmacy/preparations",
    response={201: PreparationOut, 400: ErrorOut, 403: ErrorOut, 404: ErrorOut, 409: ErrorOut, 422: ErrorOut},
    tags=["pharmacy"],
)
def prepare_dose(request: HttpRequest, screening_number: str, payload: PrepareIn) -> Any:
    """Prepare one dose's syringe (unblinded pharmacist at the participant's site)."""
    user = _user(request)
    participant = access.access_participant(user, screening_number)
    prepared = actions.prepare_dose(
        participant,
        payload.dose_number,
        weight_kg=payload.weight_kg,
        concentration_ug_per_ml=payload.concentration_ug_per_ml,
        lot=payload.lot,
        prepared_at=payload.prepared_at,
        acting_user=user,
        channel=CHANNEL,
    )
    worksheet = actions.pharmacy_worksheet(participant, acting_user=user, channel=CHANNEL)
    line = next(w for w in worksheet if w.label == prepared.label)
    return _created(_plain(line))


class LotIn(Schema):
    lot: str = Field(min_length=1, max_length=64)
    expiry: date
    vials: int = Field(gt=0, le=VIALS_MAX)


class MovementIn(Schema):
    lot: str = Field(min_length=1, max_length=64)
    vials: int = Field(gt=0, le=VIALS_MAX)
    reason: str = ""


@api.get(
    "/pharmacy/{site_code}/accountability",
    response={200: dict[str, Any], 400: ErrorOut, 403: ErrorOut},
    tags=["pharmacy"],
)
def accountability(request: HttpRequest, site_code: str) -> Any:
    """Drug accountability per lot at a site: received, dispensed, wasted, returned, on hand; reconciles?"""
    return _plain(actions.drug_accountability(site_code=site_code, acting_user=_user(request)))


@api.post(
    "/pharmacy/{site_code}/receipts",
    response={201: dict[str, Any], 400: ErrorOut, 403: ErrorOut, 422: ErrorOut},
    tags=["pharmacy"],
)
def receive_drug(request: HttpRequest, site_code: str, payload: LotIn) -> Any:
    """Vials of a lot received at the site pharmacy."""
    user = _user(request)
    actions.record_drug_receipt(
        site_code=site_code,
        lot=payload.lot,
        expiry=payload.expiry,
        vials=payload.vials,
        acting_user=user,
        channel=CHANNEL,
    )
    return _created(_plain(actions.drug_accountability(site_code=site_code, acting_user=user)))


@api.post(
    "/pharmacy/{site_code}/wastage",
    response={201: dict[str, Any], 400: ErrorOut, 403: ErrorOut, 409: ErrorOut, 422: ErrorOut},
    tags=["pharmacy"],
)
def waste_drug(request: HttpRequest, site_code: str, payload: MovementIn) -> Any:
    """Vials destroyed or unusable; needs a reason."""
    user = _user(request)
    actions.record_wastage(
        site_code=site_code,
        lot=payload.lot,
        vials=payload.vials,
        reason=payload.reason,
        acting_user=user,
        channel=CHANNEL,
    )
    return _created(_plain(actions.drug_accountability(site_code=site_code, acting_user=user)))


@api.post(
    "/pharmacy/{site_code}/returns",
    response={201: dict[str, Any], 400: ErrorOut, 403: ErrorOut, 409: ErrorOut, 422: ErrorOut},
    tags=["pharmacy"],
)
def return_drug(request: HttpRequest, site_code: str, payload: MovementIn) -> Any:
    """Vials returned to the sponsor or depot."""
    user = _user(request)
    actions.record_return(
        site_code=site_code,
        lot=payload.lot,
        vials=payload.vials,
        reason=payload.reason,
        acting_user=user,
        channel=CHANNEL,
    )
    return _created(_plain(actions.drug_accountability(site_code=site_code, acting_user=user)))


# ---------------------------------------------------------------- audit


@api.get("/audit/verify", response={200: AuditVerifyOut, 403: ErrorOut}, tags=["audit"])
def audit_verify(request: HttpRequest) -> dict[str, Any]:
    """Recompute the audit chain, check it against its signed checkpoints and reconcile the tables with it
    (monitors and data managers).

    `ok` is true only when all three hold; the reconciliation's rows (which name other sites'
    participants) are for `iliad7 audit verify` on the server, only their count is here.
    """
    from iliad7.audit import anchor, reconcile, trail

    if not reads.may_read_audit(_user(request)):
        raise AccessDenied("only monitors and data managers verify the audit trail")
    result, reconciled = anchor.with_checkpoints(trail.verify()), reconcile.reconcile()
    summary = {k: v for k, v in reconciled.as_dict().items() if k in ("ok", "checked", "problem_count")}
    return {**result, "ok": bool(result["ok"]) and reconciled.ok, "reconciliation": summary}


@api.get("/audit/records", response={200: list[AuditRecordOut], 403: ErrorOut, 422: ErrorOut}, tags=["audit"])
def audit_records(
    request: HttpRequest,
    participant: str = "",
    actor: str = "",
    action: str = "",
    since: date | None = None,
    until: date | None = None,
    before: int | None = Query(None, ge=1, le=DB_ID_MAX, description="records older than this record number"),
    limit: int = Query(500, ge=1, le=1000),
) -> list[Any]:
    """The audit records the user may read (data manager: all; monitor: their sites' participants), newest
    first, filtered like the audit page; page on with `before` = the last record number received."""
    found = reads.AuditFilter(participant=participant[:40], actor=actor[:150], action=action[:80], since=since,
                              until=until)  # fmt: skip
    records = reads.audit_query(_user(request), found)
    if before is not None:
        records = records.filter(id__lt=before)
    return list(records[:limit])


# ---------------------------------------------------------------- exports (issue 17)


class ExportIn(Schema):
    kind: Literal["sdtm", "adam", "csv", "odm"]


class ExportOut(Schema):
    job: str
    kind: str
    state: Literal["queued", "running", "done", "failed"]
    step: int
    steps: int
    message: str
    zip: str | None = Field(None, description="the zip's name once done; GET .../download")


@api.post("/exports", response={202: ExportOut, 403: ErrorOut, 422: ErrorOut}, tags=["exports"])
def start_export(request: HttpRequest, payload: ExportIn) -> Any:
    """Start an SDTM, ADaM, CSV or ODM export of what the user may see (data managers, statisticians); built in
    the background, audited as `read.export`; a blinded role gets a blinded export. Poll GET /exports/{job}."""
    from iliad7.web import exports

    name = exports.start_export(_user(request), payload.kind, channel=CHANNEL)
    body = exports.export_status(_user(request), name)
    try:
        from ninja import Status
    except ImportError:  # pragma: no cover - ninja < 1.5
        return 202, body
    return Status(202, body)


@api.get("/exports/{job}", response={200: ExportOut, 404: ErrorOut}, tags=["exports"])
def export_status(request: HttpRequest, job: str) -> Any:
    """How far the user's export got."""
    from iliad7.web import exports

    return exports.export_status(_user(request), job)


@api.get("/exports/{job}/download", response={200: None, 404: ErrorOut}, tags=["exports"])
def export_download(request: HttpRequest, job: str) -> Any:
    """The finished export as a zip (the user's own only)."""
    from django.http import FileResponse

    from iliad7.web import exports

    path = exports.export_zip(_user(request), job)
    return FileResponse(path.open("rb"), as_attachment=True, filename=path.name, content_type="application/zip")


# ---------------------------------------------------------------- data capture (issue 5)


class FieldMessageOut(Schema):
    field: str
    kind: str
    message: str
    severity: Literal["error", "warning"]
    check: str | None = None


class SavedValueOut(Schema):
    value: str
    unit: str
    version: int
    recorded_by: str
    recorded_at: datetime


class DerivedValueOut(Schema):
    value: str
    derivation: dict[str, Any] | None = Field(description="The rule, the inputs it read and the score's result")


class FormOut(Schema):
    form: str
    visit: str
    instance: int
    values: dict[str, SavedValueOut]
    derived: dict[str, DerivedValueOut]
    source_verified: bool
    locked: bool


class FormIn(Schema):
    values: dict[str, str | int | float | bool | None] = Field(
        description="Item values by item id; a unit under `ITEM.unit`. The whole form: a saved item left out is cleared"
    )
    reason: str = Field("", description="Required when a saved value is corrected or cleared")


class FormSaveOut(FormOut):
    written: list[str]
    warnings: list[FieldMessageOut]
    sdv_cleared: bool


class QueryStepOut(Schema):
    kind: str
    text: str
    status_after: str
    by: str
    at: datetime
    channel: str


class QueryOut(Schema):
    id: int
    screening_number: str
    site: str
    form: str
    visit: str
    instance: int
    item: str
    status: Literal["open", "answered", "closed"]
    raised_by: str
    raised_at: datetime
    steps: list[QueryStepOut]


class QueryIn(Schema):
    form: str = Field(min_length=1, max_length=64)
    item: str = Field(min_length=1, max_length=64)
    visit: str = Field("", max_length=64)
    instance: int = Field(1, ge=1, le=MAX_INSTANCE)
    text: str = Field(min_length=1, description="The question")


class QueryTextIn(Schema):
    text: str = Field("", description="The answer, the reason to reopen, or an optional closing note")


class SdvIn(Schema):
    verified: bool
    visit: str = Field("", max_length=64)
    instance: int = Field(1, ge=1, le=MAX_INSTANCE)


class LockIn(Schema):
    locked: bool
    reason: str = Field(min_length=1)
    visit: str = Field("", max_length=64)
    instance: int = Field(1, ge=1, le=MAX_INSTANCE)


class CasebookLockIn(Schema):
    locked: bool
    reason: str = Field(min_length=1)


class ReviewOut(Schema):
    kind: str
    value: bool
    by: str
    at: datetime
    reason: str


class SignatureOut(Schema):
    signer: str
    printed_name: str
    signed_at: datetime
    meaning: str
    valid: bool
    check: str


class CasebookOut(Schema):
    screening_number: str
    locked: bool
    problems: list[str] = Field(description="Why it cannot be signed yet; empty when it can")
    forms: dict[str, list[tuple[str, int]]]
    signatures: list[SignatureOut]


class SignIn(Schema):
    password: str = Field(min_length=1)
    otp_token: str = Field(min_length=1)


class SaeClockOut(Schema):
    screening_number: str
    instance: int
    term: str
    awareness_at: datetime
    deadline: datetime
    reported_at: datetime | None
    overdue: bool


@api.exception_handler(actions.FormRejected)
def _form_rejected(request: HttpRequest, exc: actions.FormRejected) -> HttpResponse:
    detail = [
        {**m.as_dict(), "loc": [m.field], "msg": m.message, "type": m.kind, "input": exc.check.items[m.field].text}
        if m.field in exc.check.items
        else {**m.as_dict(), "loc": [m.field], "msg": m.message, "type": m.kind}
        for m in exc.check.messages
    ]
    return _error(request, 400, detail, exc.field)


def _form_out(participant: Any, form_id: str, visit: str, instance: int) -> dict[str, Any]:
    import json

    saved = actions.saved_form(participant, form_id, visit, instance)
    return {
        "form": form_id,
        "visit": visit,
        "instance": instance,
        "values": {
            k: {
                "value": v.value,
                "unit": v.unit,
                "version": v.version,
                "recorded_by": v.recorded_by.username,
                "recorded_at": v.recorded_at,
            }
            for k, v in saved.values.items()
        },
        "derived": {
            k: {"value": v.value, "derivation": json.loads(v.derivation) if v.derivation else None}
            for k, v in saved.derived.items()
        },
        "source_verified": saved.source_verified,
        "locked": saved.locked,
    }


def _query_out(query: Any) -> dict[str, Any]:
    steps = getattr(query, "steps", None)
    if steps is None:
        steps = actions.query_history(query)
    return {
        "id": query.pk,
        "screening_number": query.participant.screening_number,
        "site": query.participant.site.code,
        "form": query.form,
        "visit": query.visit,
        "instance": query.instance,
        "item": query.item,
        "status": query.status,
        "raised_by": query.raised_by.username,
        "raised_at": query.raised_at,
        "steps": [
            {
                "kind": e.kind,
                "text": e.text,
                "status_after": e.status_after,
                "by": e.by.username,
                "at": e.at,
                "channel": e.channel,
            }
            for e in steps
        ],
    }


def _form_id(form_id: str) -> str:
    from iliad7.capture import form_spec
    from iliad7.protocol import load_protocol

    return form_spec(load_protocol(), form_id).id  # NotFound (404) for a form the protocol does not have


@api.get(
    "/participants/{screening_number}/forms/{form_id}",
    response={200: FormOut, 404: ErrorOut, 422: ErrorOut},
    tags=["forms"],
)
def get_form(
    request: HttpRequest,
    screening_number: str,
    form_id: str,
    visit: str = Query("", max_length=64),
    instance: int = Query(1, ge=1, le=MAX_INSTANCE),
) -> Any:
    """A form's saved values (latest versions), its derived values with their inputs, SDV and lock flags."""
    participant = access.access_participant(_user(request), screening_number)
    return _form_out(participant, _form_id(form_id), visit, instance)


@api.post(
    "/participants/{screening_number}/forms/{form_id}",
    response={201: FormSaveOut, 400: ErrorOut, 403: ErrorOut, 404: ErrorOut, 409: ErrorOut, 422: ErrorOut},
    tags=["forms"],
)
def save_form(
    request: HttpRequest,
    screening_number: str,
    form_id: str,
    payload: FormIn,
    visit: str = Query("", max_length=64),
    instance: int = Query(1, ge=1, le=MAX_INSTANCE),
) -> Any:
    """Check and save a whole form (site staff). 400 lists every field's message with what was typed; nothing
    is stored then. A correction needs `reason`; a locked form is 409."""
    participant = access.access_participant(_user(request), screening_number)
    result = actions.save_form(
        participant,
        _form_id(form_id),
        payload.values,
        visit=visit,
        instance=instance,
        acting_user=_user(request),
        channel=CHANNEL,
        reason=payload.reason,
    )
    body = _form_out(participant, form_id, visit, instance)
    body["written"] = [v.item for v in result.written]
    body["warnings"] = [m.as_dict() for m in result.warnings]
    body["sdv_cleared"] = result.sdv_cleared
    return _created(body)


@api.post(
    "/participants/{screening_number}/forms/{form_id}/sdv",
    response={200: FormOut, 400: ErrorOut, 403: ErrorOut, 404: ErrorOut, 409: ErrorOut, 422: ErrorOut},
    tags=["forms"],
)
def form_sdv(request: HttpRequest, screening_number: str, form_id: str, payload: SdvIn) -> Any:
    """Set or clear a saved form's source-data-verification flag (monitor)."""
    participant = access.access_participant(_user(request), screening_number)
    actions.set_sdv(
        participant, _form_id(form_id), payload.visit, verified=payload.verified, instance=payload.instance,
        acting_user=_user(request), channel=CHANNEL,
    )  # fmt: skip
    return _form_out(participant, form_id, payload.visit, payload.instance)


@api.post(
    "/participants/{screening_number}/forms/{form_id}/lock",
    response={200: FormOut, 400: ErrorOut, 403: ErrorOut, 404: ErrorOut, 409: ErrorOut, 422: ErrorOut},
    tags=["forms"],
)
def form_lock(request: HttpRequest, screening_number: str, form_id: str, payload: LockIn) -> Any:
    """Lock or unlock a saved form, with the reason (data manager)."""
    participant = access.access_participant(_user(request), screening_number)
    (actions.lock_form if payload.locked else actions.unlock_form)(
        participant, _form_id(form_id), payload.visit, instance=payload.instance, acting_user=_user(request),
        channel=CHANNEL, reason=payload.reason,
    )  # fmt: skip
    return _form_out(participant, form_id, payload.visit, payload.instance)


@api.get(
    "/participants/{screening_number}/queries",
    response={200: list[QueryOut], 403: ErrorOut, 404: ErrorOut},
    tags=["queries"],
)
def participant_queries(request: HttpRequest, screening_number: str) -> Any:
    """Every query of one participant with its steps (site staff, monitors, data managers)."""
    from iliad7.accounts.roles import Capability

    user = _user(request)
    participant = access.access_participant(user, screening_number)
    access.require(user, Capability.VIEW_QUERIES, participant.site)
    return [_query_out(q) for q in reads.participant_queries(participant)]


@api.post(
    "/participants/{screening_number}/queries",
    response={201: QueryOut, 400: ErrorOut, 403: ErrorOut, 404: ErrorOut, 422: ErrorOut},
    tags=["queries"],
)
def raise_query(request: HttpRequest, screening_number: str, payload: QueryIn) -> Any:
    """Raise a query on one item of a form (monitor at the site, or data manager)."""
    participant = access.access_participant(_user(request), screening_number)
    query = actions.raise_query(
        participant, form=_form_id(payload.form), item=payload.item, visit=payload.visit, instance=payload.instance,
        text=payload.text, acting_user=_user(request), channel=CHANNEL,
    )  # fmt: skip
    return _created(_query_out(query))


@api.get("/queries", response={200: list[QueryOut]}, tags=["queries"])
def list_open_queries(request: HttpRequest) -> Any:
    """Queries not yet closed (open or answered) of the participants the user sees with query rights."""
    return [_query_out(q) for q in actions.open_queries(_user(request))]


@api.get("/queries/{query_id}", response={200: QueryOut, 404: ErrorOut}, tags=["queries"])
def get_query(request: HttpRequest, query_id: int = Path(..., ge=1, le=DB_ID_MAX)) -> Any:
    """One query with its steps (404 alike for a missing query and another site's)."""
    user = _user(request)
    query = reads.access_query(user, query_id)
    from iliad7.accounts.roles import Capability

    if not access.can(user, Capability.VIEW_QUERIES, query.participant.site):
        raise NotFound(f"query {query_id}")
    return _query_out(query)


def _query_step(request: HttpRequest, query_id: int, step: str, text: str) -> Any:
    user = _user(request)
    query = reads.access_query(user, query_id)
    if step == "answer":
        actions.answer_query(query, text=text, acting_user=user, channel=CHANNEL)
    elif step == "close":
        actions.close_query(query, text=text, acting_user=user, channel=CHANNEL)
    else:
        actions.reopen_query(query, text=text, acting_user=user, channel=CHANNEL)
    return _query_out(reads.access_query(user, query_id))


_STEP_RESPONSES = {200: QueryOut, 400: ErrorOut, 403: ErrorOut, 404: ErrorOut, 409: ErrorOut, 422: ErrorOut}


@api.post("/queries/{query_id}/answer", response=_STEP_RESPONSES, tags=["queries"])
def answer_query(request: HttpRequest, payload: QueryTextIn, query_id: int = Path(..., ge=1, le=DB_ID_MAX)) -> Any:
    """The site's answer to an open query (investigator, coordinator)."""
    return _query_step(request, query_id, "answer", payload.text)


@api.post("/queries/{query_id}/close", response=_STEP_RESPONSES, tags=["queries"])
def close_query(request: HttpRequest, payload: QueryTextIn, query_id: int = Path(..., ge=1, le=DB_ID_MAX)) -> Any:
    """Close an open or answered query (monitor, data manager)."""
    return _query_step(request, query_id, "close", payload.text)


@api.post("/queries/{query_id}/reopen", response=_STEP_RESPONSES, tags=["queries"])
def reopen_query(request: HttpRequest, payload: QueryTextIn, query_id: int = Path(..., ge=1, le=DB_ID_MAX)) -> Any:
    """Reopen an answered or closed query with the reason (monitor, data manager)."""
    return _query_step(request, query_id, "reopen", payload.text)


def _casebook_out(participant: Any) -> dict[str, Any]:
    return {
        "screening_number": participant.screening_number,
        "locked": actions.casebook_locked(participant),
        "problems": actions.casebook_problems(participant),
        "forms": reads.saved_forms(participant),
        "signatures": [
            {
                "signer": s.signer.username,
                "printed_name": s.printed_name,
                "signed_at": s.signed_at,
                "meaning": s.meaning,
                "valid": s.verification.ok,
                "check": s.verification.reason,
            }
            for s in reads.casebook_signatures(participant)
        ],
    }


@api.get("/participants/{screening_number}/casebook", response={200: CasebookOut, 404: ErrorOut}, tags=["casebook"])
def get_casebook(request: HttpRequest, screening_number: str) -> Any:
    """The casebook's lock, why it cannot be signed yet, its saved forms and its signatures."""
    participant = access.access_participant(_user(request), screening_number)
    return _casebook_out(participant)


@api.post(
    "/participants/{screening_number}/casebook/lock",
    response={200: CasebookOut, 400: ErrorOut, 403: ErrorOut, 404: ErrorOut, 409: ErrorOut, 422: ErrorOut},
    tags=["casebook"],
)
def casebook_lock(request: HttpRequest, screening_number: str, payload: CasebookLockIn) -> Any:
    """Lock or unlock the whole casebook, with the reason (data manager)."""
    participant = access.access_participant(_user(request), screening_number)
    (actions.lock_casebook if payload.locked else actions.unlock_casebook)(
        participant, acting_user=_user(request), channel=CHANNEL, reason=payload.reason
    )
    return _casebook_out(participant)


@api.post(
    "/participants/{screening_number}/casebook/signature",
    response={
        201: CasebookOut,
        400: ErrorOut,
        403: ErrorOut,
        404: ErrorOut,
        409: ErrorOut,
        422: ErrorOut,
        429: ErrorOut,
    },
    tags=["casebook"],
)
def sign_casebook(request: HttpRequest, screening_number: str, payload: SignIn) -> Any:
    """The investigator's signature, "I approve this casebook" (password and TOTP again); 409 while a query is
    not closed or the END-OF-STUDY form is not saved. A wrong password and a wrong code get the same 403
    (`credentials`); too many from this address for this user, 429 with Retry-After."""
    participant = access.access_participant(_user(request), screening_number)
    actions.sign_casebook(
        participant, acting_user=_user(request), password=payload.password, otp_token=payload.otp_token,
        channel=CHANNEL, source=request,
    )  # fmt: skip
    return _created(_casebook_out(participant))


@api.get("/sae-clocks", response={200: list[SaeClockOut], 403: ErrorOut}, tags=["adverse events"])
def sae_clocks(request: HttpRequest) -> Any:
    """Serious adverse events of the participants the user sees, with their 24-hour reporting deadline
    (investigators, and the roles that review the data: site staff, monitors, data managers)."""
    from iliad7.accounts.roles import Capability

    user = _user(request)
    if not (
        access.visible_sites(user, Capability.SIGN_CASEBOOK).exists()
        or access.visible_sites(user, Capability.VIEW_QUERIES).exists()
    ):
        raise AccessDenied("the SAE clocks are for investigators and the reviewers of the data")
    return [dataclasses.asdict(c) for c in actions.sae_clocks(user)]


class ClosedSessionIn(Schema):
    members: list[str] = Field(min_length=1, max_length=50, description="User names of the DSMB members admitted")
    starts_at: AwareDatetime
    ends_at: AwareDatetime = Field(description="At most 12 hours after starts_at")
    purpose: str = Field(min_length=1, max_length=200)


class ClosedSessionOut(Schema):
    id: int
    purpose: str
    starts_at: str
    ends_at: str
    members: list[str]
    scheduled_by: str
    open: bool


@api.get("/dsmb/sessions", response={200: list[ClosedSessionOut], 403: ErrorOut}, tags=["reports"])
def dsmb_sessions(request: HttpRequest) -> Any:
    """The scheduled DSMB closed sessions (unblinded statistician: all; a DSMB member: those admitting them)."""
    from iliad7.store.actions.dsmb import closed_sessions

    return closed_sessions(_user(request))


@api.post(
    "/dsmb/sessions",
    response={201: ClosedSessionOut, 400: ErrorOut, 403: ErrorOut, 422: ErrorOut},
    tags=["reports"],
)
def schedule_dsmb_session(request: HttpRequest, payload: ClosedSessionIn) -> Any:
    """Schedule a DSMB closed session (unblinded statistician): only in its window may its members read the
    closed report."""
    from iliad7.store.actions.dsmb import closed_sessions, schedule_closed_session

    user = _user(request)
    session = schedule_closed_session(
        members=payload.members, starts_at=payload.starts_at, ends_at=payload.ends_at, purpose=payload.purpose,
        acting_user=user, channel=CHANNEL,
    )  # fmt: skip
    return _created(next(s for s in closed_sessions(user) if s["id"] == session.pk))


# The Secondary Infections Committee's endpoints live in their own module, mounted here.
from iliad7.web.adjudication_api import router as _infections_router  # noqa: E402

api.add_router("", _infections_router)
