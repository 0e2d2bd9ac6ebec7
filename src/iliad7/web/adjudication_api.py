"""The Secondary Infections Committee's API endpoints (mounted on the /api/ of iliad7.web.api).

Errors are those of the API: the handlers registered on `iliad7.web.api.api` turn InputError,
NotFound and AccessDenied into 400, 404 and 403 with the field named.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from django.http import HttpRequest
from ninja import Field, Path, Router, Schema

from iliad7.accounts.roles import Capability
from iliad7.inputs import MAX_INSTANCE
from iliad7.store import access
from iliad7.web.schemas import ErrorOut

router = Router(tags=["secondary infections"])


class InfectionOut(Schema):
    screening_number: str
    usubjid: str
    site: str
    instance: int
    reported: dict[str, str]
    decision: str | None
    version: int
    rationale: str
    adjudicated_by: str
    adjudicated_at: datetime | None


class AdjudicationIn(Schema):
    decision: Literal["confirmed", "not_confirmed"]
    rationale: str = Field(min_length=1, max_length=4000)


class AdjudicationOut(Schema):
    screening_number: str
    instance: int
    decision: str
    version: int


@router.get("/infections", response={200: list[InfectionOut], 403: ErrorOut})
def infections(request: HttpRequest) -> Any:
    """Every reported infection the user may see with the committee's current decision (never the arm)."""
    from dataclasses import asdict

    from iliad7.store.actions.adjudication import reported_infections

    user: Any = request.user
    access.require(user, Capability.ADJUDICATE_INFECTION)
    return [asdict(i) for i in reported_infections(user)]


@router.post(
    "/participants/{screening_number}/infections/{instance}/adjudication",
    response={201: AdjudicationOut, 400: ErrorOut, 403: ErrorOut, 404: ErrorOut, 422: ErrorOut},
)
def adjudicate(
    request: HttpRequest,
    screening_number: str,
    payload: AdjudicationIn,
    instance: int = Path(..., ge=1, le=MAX_INSTANCE),
) -> Any:
    """Record the committee's decision on one reported infection (a new version with its rationale)."""
    from iliad7.store.actions.adjudication import adjudicate_infection

    user: Any = request.user
    participant = access.access_participant(user, screening_number, Capability.ADJUDICATE_INFECTION)
    row = adjudicate_infection(
        participant, instance, decision=payload.decision, rationale=payload.rationale, acting_user=user, channel="api"
    )
    from iliad7.web.api import _created  # imported late: iliad7.web.api mounts this router

    return _created(
        {"screening_number": screening_number, "instance": instance, "decision": row.decision, "version": row.version}
    )
