"""Queries, source-data verification, locks, the casebook signature and the serious-AE clock."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from iliad7.errors import AccessDenied, ActionRefused, InputError

PASSWORD = "correct-horse-battery-staple"

pytestmark = pytest.mark.django_db

LAB = {"collected_at": "2026-11-20T06:00:00-05:00", "alc": "650", "alc.unit": "cells/uL", "alc_lln": "1000"}


def today() -> str:
    return datetime.now(ZoneInfo("America/New_York")).date().isoformat()


def audit_actions(object_type: str) -> list[str]:
    from iliad7.store.models import AuditRecord

    return list(AuditRecord.objects.filter(object_type=object_type).order_by("id").values_list("action", flat=True))


@pytest.fixture
def query(save: Callable[..., Any], staff: dict[str, Any], participant: Any) -> Any:
    from iliad7.store.actions.capture import raise_query

    save("LAB", LAB, visit="BASELINE")
    return raise_query(
        participant, form="LAB", item="alc", visit="BASELINE", text="The source document says 560.",
        acting_user=staff["monitor"], channel="web",
    )  # fmt: skip


def test_query_goes_open_answered_closed_and_every_step_is_audited(query: Any, staff: dict[str, Any]) -> None:
    from iliad7.store.actions.capture import answer_query, close_query
    from iliad7.store.actions.queries import query_history

    assert query.status == "open"
    assert answer_query(query, text="Corrected to 560.", acting_user=staff["coord"], channel="web").status == "answered"
    assert close_query(query, acting_user=staff["monitor"], channel="web").status == "closed"
    steps = [(e.kind, e.status_after, e.by.username) for e in query_history(query)]
    assert steps == [("raise", "open", "monitor"), ("answer", "answered", "coord"), ("close", "closed", "monitor")]
    assert audit_actions("query") == ["query.raise", "query.answer", "query.close"]


def test_a_closed_query_can_be_reopened_with_a_reason(query: Any, staff: dict[str, Any]) -> None:
    from iliad7.store.actions.capture import answer_query, close_query, reopen_query

    answer_query(query, text="Checked.", acting_user=staff["coord"], channel="web")
    close_query(query, acting_user=staff["monitor"], channel="web")
    with pytest.raises(InputError):
        reopen_query(query, text=" ", acting_user=staff["monitor"], channel="web")
    assert reopen_query(query, text="New source found.", acting_user=staff["monitor"], channel="web").status == "open"
    assert audit_actions("query")[-1] == "query.reopen"


def test_only_an_open_query_can_be_answered(query: Any, staff: dict[str, Any]) -> None:
    from iliad7.store.actions.capture import answer_query, close_query

    close_query(query, acting_user=staff["monitor"], channel="web", text="Raised in error.")
    with pytest.raises(ActionRefused):
        answer_query(query, text="Late answer", acting_user=staff["coord"], channel="web")


def test_site_staff_answer_monitors_raise_and_close(query: Any, staff: dict[str, Any], participant: Any) -> None:
    from iliad7.store.actions.capture import answer_query, close_query, raise_query

    with pytest.raises(AccessDenied):
        raise_query(
            participant, form="LAB", item="alc", visit="BASELINE", text="?", acting_user=staff["coord"], channel="web"
        )
    with pytest.raises(AccessDenied):
        answer_query(query, text="I am the monitor", acting_user=staff["monitor"], channel="web")
    with pytest.raises(AccessDenied):
        close_query(query, acting_user=staff["coord"], channel="web")
    with pytest.raises(AccessDenied):  # a monitor of the other site
        raise_query(
            participant,
            form="LAB",
            item="alc",
            visit="BASELINE",
            text="?",
            acting_user=staff["monitor_mdacc"],
            channel="web",
        )
    dm_query = raise_query(
        participant, form="LAB", item="alc_lln", visit="BASELINE", text="LLN?", acting_user=staff["dm"], channel="api"
    )
    assert dm_query.status == "open"


def test_a_query_names_an_item_of_the_form(staff: dict[str, Any], participant: Any) -> None:
    from iliad7.store.actions.capture import raise_query

    with pytest.raises(InputError) as refused:
        raise_query(participant, form="LAB", item="potassium", text="?", acting_user=staff["monitor"], channel="web")
    assert refused.value.field == "item"


def test_open_queries_are_listed_to_the_site_and_its_monitor_only(query: Any, staff: dict[str, Any]) -> None:
    from iliad7.store.actions.capture import close_query
    from iliad7.store.actions.queries import open_queries

    assert [q.pk for q in open_queries(staff["coord"])] == [query.pk]
    assert [q.pk for q in open_queries(staff["dm"])] == [query.pk]
    assert open_queries(staff["coord_mdacc"]) == [] and open_queries(staff["monitor_mdacc"]) == []
    assert open_queries(staff["sponsor"]) == []
    close_query(query, acting_user=staff["monitor"], channel="web")
    assert open_queries(staff["monitor"]) == []


def test_query_steps_cannot_be_altered_in_the_database(query: Any) -> None:
    from django.db import DatabaseError, transaction

    from iliad7.store.models import QueryEvent

    with pytest.raises(DatabaseError), transaction.atomic():
        QueryEvent.objects.filter(query=query).update(text="rewritten")
    with pytest.raises(DatabaseError), transaction.atomic():
        QueryEvent.objects.filter(query=query).delete()


def test_source_data_verification_is_set_by_the_monitor_and_cleared_by_a_later_change(
    save: Callable[..., Any], staff: dict[str, Any], participant: Any
) -> None:
    from iliad7.store.actions.capture import set_sdv, source_verified

    save("LAB", LAB, visit="BASELINE")
    with pytest.raises(AccessDenied):
        set_sdv(participant, "LAB", "BASELINE", verified=True, acting_user=staff["coord"], channel="web")
    set_sdv(participant, "LAB", "BASELINE", verified=True, acting_user=staff["monitor"], channel="web")
    assert source_verified(participant, "LAB", "BASELINE")
    result = save("LAB", {**LAB, "alc": "560"}, visit="BASELINE", reason="query: source says 560")
    assert result.sdv_cleared and not source_verified(participant, "LAB", "BASELINE")
    assert audit_actions("form").count("form.sdv") == 2


def test_sdv_of_a_form_never_saved_is_refused(staff: dict[str, Any], participant: Any) -> None:
    from iliad7.errors import NotFound
    from iliad7.store.actions.capture import set_sdv

    with pytest.raises(NotFound):
        set_sdv(participant, "LAB", "DOSE3", verified=True, acting_user=staff["monitor"], channel="web")


def test_a_locked_form_refuses_later_writes_until_unlocked_with_a_reason(
    save: Callable[..., Any], staff: dict[str, Any], participant: Any
) -> None:
    from iliad7.store.actions import record_item_value
    from iliad7.store.actions.capture import lock_form, unlock_form
    from iliad7.store.models import ItemValue

    save("LAB", LAB, visit="BASELINE")
    with pytest.raises(AccessDenied):
        lock_form(participant, "LAB", "BASELINE", acting_user=staff["monitor"], channel="web", reason="clean")
    with pytest.raises(InputError):
        lock_form(participant, "LAB", "BASELINE", acting_user=staff["dm"], channel="web", reason="")
    lock_form(participant, "LAB", "BASELINE", acting_user=staff["dm"], channel="web", reason="data clean")
    count = ItemValue.objects.count()
    with pytest.raises(ActionRefused):
        save("LAB", {**LAB, "alc": "560"}, visit="BASELINE", reason="late change")
    with pytest.raises(ActionRefused):  # the item machinery refuses it too
        record_item_value(participant, form="LAB", item="alc", value="1", visit="BASELINE", acting_user=staff["coord"],
                          channel="web", reason="bypass")  # fmt: skip
    assert ItemValue.objects.count() == count
    save("VITALS", {"assessed_at": "2026-11-20T10:00:00-05:00", "respiratory_rate": "16", "spo2": "97",
                    "spo2_scale": "1", "on_supplemental_oxygen": "no", "systolic_bp": "120", "pulse": "80",
                    "consciousness": "A", "temperature": "37.0"})  # fmt: skip  # other forms stay open
    unlock_form(participant, "LAB", "BASELINE", acting_user=staff["dm"], channel="web", reason="query reopened")
    assert save("LAB", {**LAB, "alc": "560"}, visit="BASELINE", reason="source says 560").written
    assert audit_actions("form").count("form.lock") == 1 and "form.unlock" in audit_actions("form")


def test_a_locked_casebook_refuses_every_write(
    save: Callable[..., Any], staff: dict[str, Any], participant: Any
) -> None:
    from iliad7.store.actions.capture import lock_casebook

    lock_casebook(participant, acting_user=staff["dm"], channel="web", reason="database lock")
    with pytest.raises(ActionRefused):
        save("LAB", LAB, visit="BASELINE")
    assert audit_actions("casebook") == ["casebook.lock"]


def _end_of_study(save: Callable[..., Any]) -> None:
    save("END-OF-STUDY", {"end_status": "completed", "end_date": today()})


def test_casebook_signature_is_refused_while_a_query_is_open(
    query: Any, save: Callable[..., Any], staff: dict[str, Any], participant: Any, otp: Callable[[Any], str]
) -> None:
    from iliad7.store.actions.capture import answer_query, sign_casebook
    from iliad7.store.models import Signature

    _end_of_study(save)
    answer_query(query, text="Corrected.", acting_user=staff["coord"], channel="web")
    with pytest.raises(ActionRefused) as refused:
        sign_casebook(participant, acting_user=staff["inv"], password=PASSWORD, otp_token=otp(staff["inv"]))
    assert "1 query(ies) not closed" in refused.value.reason
    assert Signature.objects.count() == 0


def test_casebook_signature_is_refused_before_follow_up_ends(
    staff: dict[str, Any], participant: Any, otp: Callable[[Any], str]
) -> None:
    from iliad7.store.actions.capture import sign_casebook

    with pytest.raises(ActionRefused) as refused:
        sign_casebook(participant, acting_user=staff["inv"], password=PASSWORD, otp_token=otp(staff["inv"]))
    assert "END-OF-STUDY" in refused.value.reason


def test_signed_casebook_is_bound_to_its_content(
    query: Any, save: Callable[..., Any], staff: dict[str, Any], participant: Any, otp: Callable[[Any], str]
) -> None:
    from iliad7.store.actions import verify_signature
    from iliad7.store.actions.capture import CASEBOOK_MEANING, close_query, sign_casebook

    _end_of_study(save)
    close_query(query, acting_user=staff["monitor"], channel="web")
    with pytest.raises(AccessDenied):
        sign_casebook(participant, acting_user=staff["coord"], password=PASSWORD, otp_token="000000")
    signature = sign_casebook(participant, acting_user=staff["inv"], password=PASSWORD, otp_token=otp(staff["inv"]))
    assert signature.meaning == CASEBOOK_MEANING == "I approve this casebook"
    assert signature.target_type == "participant" and signature.target_id == participant.screening_number
    assert verify_signature(signature).ok
    save("LAB", {**LAB, "alc": "560"}, visit="BASELINE", reason="late lab amendment")
    check = verify_signature(signature)
    assert not check.ok and "changed since it was signed" in check.reason


AE = {
    "term": "Febrile neutropenia", "grade": "3", "onset_date": "2026-11-21", "serious": "yes",
    "sae_hospitalization": "yes", "awareness_at": "2026-11-21T22:30:00+00:00", "relatedness": "unlikely",
    "expected": "no", "outcome": "recovering",
}  # fmt: skip


def test_a_serious_adverse_event_shows_its_24_hour_clock_to_the_investigator(
    save: Callable[..., Any], staff: dict[str, Any]
) -> None:
    from iliad7.store.actions.queries import sae_clocks

    save("ADVERSE-EVENT", AE)
    save("ADVERSE-EVENT", {**AE, "serious": "no", "sae_hospitalization": "", "awareness_at": ""}, instance=2)
    aware = datetime(2026, 11, 21, 22, 30, tzinfo=UTC)
    [clock] = sae_clocks(staff["inv"], at=aware + timedelta(hours=23))
    assert (clock.instance, clock.term, clock.deadline) == (1, "Febrile neutropenia", aware + timedelta(hours=24))
    assert clock.open and not clock.overdue
    assert sae_clocks(staff["inv"], at=aware + timedelta(hours=25))[0].overdue
    assert sae_clocks(staff["coord_mdacc"]) == []


def test_a_serious_event_reported_in_time_stops_its_clock(save: Callable[..., Any], staff: dict[str, Any]) -> None:
    from iliad7.store.actions.queries import sae_clocks

    save("ADVERSE-EVENT", AE)
    save("ADVERSE-EVENT", {**AE, "sae_reported_at": "2026-11-22T10:00:00+00:00"}, reason="reported to the sponsor")
    [clock] = sae_clocks(staff["inv"], at=datetime(2026, 11, 25, tzinfo=UTC))
    assert not clock.open and not clock.overdue
