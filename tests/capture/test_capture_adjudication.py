"""Blind adjudication of secondary infections by the Secondary Infections Committee."""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.test import Client

pytestmark = pytest.mark.django_db

INFECTION = {
    "onset_date": "2026-11-21",
    "infection_site": "bloodstream",
    "organism_type": "bacterial",
    "organism": "Klebsiella pneumoniae",
    "culture_confirmed": "true",
}


@pytest.fixture
def adjudicator(staff: dict[str, Any]) -> Any:
    from iliad7.store.actions import add_user

    return add_user("sic", password="correct-horse-battery-staple", roles=["infection-adjudicator"], sites=[],
                    full_name="Sic", acting_user=None, channel="system")  # fmt: skip


def test_a_reported_infection_is_pending_then_decided_in_versions(
    save: Any, participant: Any, adjudicator: Any
) -> None:
    from iliad7.store.actions.adjudication import adjudicate_infection, reported_infections
    from iliad7.store.models import AuditRecord, InfectionAdjudication

    save("SECONDARY-INFECTION", INFECTION, instance=1)
    [pending] = reported_infections(adjudicator)
    assert pending.decision is None and pending.reported["organism"] == "Klebsiella pneumoniae"
    adjudicate_infection(participant, 1, decision="confirmed", rationale="positive blood culture", acting_user=adjudicator,
                         channel="web")  # fmt: skip
    adjudicate_infection(participant, 1, decision="not_confirmed", rationale="contaminant on review",
                         acting_user=adjudicator, channel="web")  # fmt: skip
    [current] = reported_infections(adjudicator)
    assert (current.decision, current.version, current.rationale) == ("not_confirmed", 2, "contaminant on review")
    rows = list(InfectionAdjudication.objects.order_by("version").values_list("version", "decision"))
    assert rows == [(1, "confirmed"), (2, "not_confirmed")]  # the first decision is kept
    audit = list(AuditRecord.objects.filter(action="infection.adjudicated").values_list("object_id", flat=True))
    assert audit == [f"{participant.screening_number}#1"] * 2


def test_only_the_committee_adjudicates_and_bad_input_names_the_field(
    save: Any, participant: Any, adjudicator: Any, staff: dict[str, Any]
) -> None:
    from iliad7.errors import AccessDenied, InputError, NotFound
    from iliad7.store.actions.adjudication import adjudicate_infection
    from iliad7.store.models import InfectionAdjudication

    save("SECONDARY-INFECTION", INFECTION, instance=1)
    for role in ("coord", "inv", "monitor", "dm", "stat"):
        with pytest.raises(AccessDenied):
            adjudicate_infection(participant, 1, decision="confirmed", rationale="x", acting_user=staff[role],
                                 channel="web")  # fmt: skip
    with pytest.raises(InputError) as bad:
        adjudicate_infection(participant, 1, decision="maybe", rationale="x", acting_user=adjudicator, channel="web")
    assert bad.value.field == "decision"
    with pytest.raises(InputError) as empty:
        adjudicate_infection(
            participant, 1, decision="confirmed", rationale=" ", acting_user=adjudicator, channel="web"
        )
    assert empty.value.field == "rationale"
    with pytest.raises(NotFound):
        adjudicate_infection(
            participant, 2, decision="confirmed", rationale="x", acting_user=adjudicator, channel="web"
        )
    assert not InfectionAdjudication.objects.exists()


def test_decisions_are_append_only_in_the_database(save: Any, participant: Any, adjudicator: Any) -> None:
    from django.db import DatabaseError, connection, transaction

    from iliad7.store.actions.adjudication import adjudicate_infection

    save("SECONDARY-INFECTION", INFECTION, instance=1)
    adjudicate_infection(participant, 1, decision="confirmed", rationale="culture", acting_user=adjudicator,
                         channel="web")  # fmt: skip
    for sql in (
        "UPDATE store_infectionadjudication SET decision = 'not_confirmed'",
        "DELETE FROM store_infectionadjudication",
    ):
        with pytest.raises(DatabaseError), transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(sql)


def test_the_committee_page_and_api_show_no_arm_and_record_decisions(
    save: Any, participant: Any, adjudicator: Any, staff: dict[str, Any]
) -> None:
    save("SECONDARY-INFECTION", INFECTION, instance=1)
    client = Client()
    client.force_login(adjudicator)
    page = client.get("/infections/")
    assert page.status_code == 200
    text = page.content.decode()
    assert "Klebsiella pneumoniae" in text and "pending" in text
    listing = client.get("/api/infections")
    assert listing.status_code == 200
    body = listing.content.decode()
    assert "arm" not in json.loads(body)[0] and "CYT107" not in body and "placebo" not in body.lower()
    done = client.post(
        f"/api/participants/{participant.screening_number}/infections/1/adjudication",
        data=json.dumps({"decision": "confirmed", "rationale": "positive blood culture"}),
        content_type="application/json",
    )
    assert done.status_code == 201, done.content
    assert json.loads(done.content)["version"] == 1
    refused = client.post(
        f"/api/participants/{participant.screening_number}/infections/1/adjudication",
        data=json.dumps({"decision": "perhaps", "rationale": "x"}),
        content_type="application/json",
    )
    assert refused.status_code == 422
    coordinator = Client()
    coordinator.force_login(staff["coord"])
    assert coordinator.get("/infections/").status_code == 403
    assert coordinator.get("/api/infections").status_code == 403


def test_infection_commands_list_and_adjudicate(save: Any, participant: Any, adjudicator: Any) -> None:
    import typer
    from typer.testing import CliRunner

    from iliad7.cli import adjudication

    app = typer.Typer()
    adjudication.register(app)
    save("SECONDARY-INFECTION", INFECTION, instance=1)
    runner = CliRunner()
    listed = runner.invoke(app, ["infection", "list", "--as", "sic", "--json"])
    assert listed.exit_code == 0, listed.output
    assert json.loads(listed.stdout)[0]["decision"] is None
    number = participant.screening_number
    done = runner.invoke(
        app,
        ["infection", "adjudicate", number, "1", "--decision", "confirmed", "--rationale", "culture", "--as", "sic"],
    )
    assert done.exit_code == 0, done.output
    bad = runner.invoke(
        app, ["infection", "adjudicate", number, "1", "--decision", "maybe", "--rationale", "x", "--as", "sic"]
    )
    assert bad.exit_code == 2 and "decision" in bad.output
    refused = runner.invoke(
        app, ["infection", "adjudicate", number, "1", "--decision", "confirmed", "--rationale", "x", "--as", "coord"]
    )
    assert refused.exit_code == 1
