"""The pre-screening worklist (issue 15): who sees which site's candidates, the audit of every read, and
the screening record started from a candidate, prefilled from the EHR with each value's source."""

from __future__ import annotations

import io
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from iliad7.prescreen.run import Candidate, Summary, parse_as_of, run
from iliad7.prescreen.synth import as_of, load_parameters, synthesize

pytestmark = pytest.mark.django_db


@pytest.fixture(scope="module")
def omop(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """A small synthetic EHR with a ward's share of inpatients (so that there are candidates)."""
    p = load_parameters()
    p["care.inpatient_share"] = 0.4
    p["care.covid_share_of_inpatients"] = 0.6
    folder = tmp_path_factory.mktemp("omop") / "ehr"
    summary = synthesize(120, 7, folder, p)
    return folder, as_of(summary)


@pytest.fixture(scope="module")
def prescreened(omop: tuple[Path, str]) -> tuple[Summary, list[Candidate]]:
    folder, t0 = omop
    summary, candidates = run(str(folder), parse_as_of(t0), engine="duckdb", out=io.BytesIO(), keep_candidates=True)
    assert len(candidates) >= 3
    return summary, candidates


@pytest.fixture
def loaded(staff: dict[str, Any], prescreened: tuple[Summary, list[Candidate]]) -> Any:
    from iliad7.store.actions.prescreen import load_prescreen_run

    summary, candidates = prescreened
    return load_prescreen_run(summary, candidates, site="MSKCC", acting_user=staff["coordinator@MSKCC"], channel="cli")


def _people(html: str) -> list[str]:
    return re.findall(r'<a href="/prescreen/\d+/">(\d+)</a>', html)


def test_the_site_sees_its_candidates_fewest_left_first(
    loaded: Any, staff: dict[str, Any], login: Callable[[Any], Any]
) -> None:
    page = login(staff["coordinator@MSKCC"]).get("/prescreen/")
    assert page.status_code == 200
    shown = _people(page.content.decode())
    expected = [str(c.person_id) for c in loaded.candidates.order_by("unknown_count", "person_id")]
    assert shown == expected and len(shown) == loaded.candidate_count
    counts = [c.unknown_count for c in loaded.candidates.order_by("unknown_count", "person_id")]
    assert counts == sorted(counts)
    assert "what is missing" in page.content.decode()


def test_blinded_and_unblinded_roles_see_the_same_list(
    loaded: Any, staff: dict[str, Any], login: Callable[[Any], Any]
) -> None:
    coordinator = login(staff["coordinator@MSKCC"]).get("/prescreen/").content.decode()
    pharmacist = login(staff["unblinded-pharmacist@MSKCC"]).get("/prescreen/").content.decode()
    investigator = login(staff["investigator@MSKCC"]).get("/prescreen/").content.decode()
    body = re.compile(r"<table>.*</table>", re.S)
    assert body.search(coordinator).group(0) == body.search(pharmacist).group(0) == body.search(investigator).group(0)  # type: ignore[union-attr]


def test_another_site_sees_nothing_of_it(loaded: Any, staff: dict[str, Any], login: Callable[[Any], Any]) -> None:
    client = login(staff["coordinator@MDACC"])
    page = client.get("/prescreen/")
    assert page.status_code == 200 and _people(page.content.decode()) == []
    assert "No pre-screening run" in page.content.decode()
    some = loaded.candidates.first()
    assert client.get(f"/prescreen/{some.pk}/").status_code == 404
    assert (
        client.post(f"/prescreen/{some.pk}/start", HTTP_X_CSRFTOKEN=client.cookies["csrftoken"].value).status_code
        == 404
    )


@pytest.mark.parametrize("role", ["monitor@MSKCC", "data-manager", "unblinded-statistician", "dsmb-member"])
def test_roles_without_the_worklist_are_refused(
    loaded: Any, staff: dict[str, Any], login: Callable[[Any], Any], role: str
) -> None:
    client = login(staff[role])
    assert client.get("/prescreen/").status_code == 403
    assert client.get(f"/prescreen/{loaded.candidates.first().pk}/").status_code == 404


def test_every_read_is_audited_with_who_and_which_person(
    loaded: Any, staff: dict[str, Any], login: Callable[[Any], Any]
) -> None:
    from iliad7.store.models import AuditRecord

    client = login(staff["unblinded-pharmacist@MSKCC"])
    client.get("/prescreen/")
    listed = AuditRecord.objects.filter(action="read.candidate_list").last()
    assert listed is not None and listed.actor == staff["unblinded-pharmacist@MSKCC"].username
    shown = {c.person_id for c in loaded.candidates.all()}
    assert set(__import__("json").loads(listed.new_value)["persons_shown"]) == shown
    one = loaded.candidates.order_by("unknown_count", "person_id").first()
    page = client.get(f"/prescreen/{one.pk}/")
    assert page.status_code == 200
    viewed = AuditRecord.objects.filter(action="read.candidate").last()
    assert viewed is not None and viewed.object_id == f"{loaded.pk}/{one.person_id}"
    assert viewed.actor == staff["unblinded-pharmacist@MSKCC"].username
    assert "Start a screening record" not in page.content.decode()  # the pharmacist does not screen


def test_starting_a_screening_prefills_the_record_with_its_sources(
    loaded: Any, staff: dict[str, Any], login: Callable[[Any], Any]
) -> None:
    from iliad7.store.models import AuditRecord, PrescreenStart, ScreeningVersion

    client = login(staff["coordinator@MSKCC"])
    one = loaded.candidates.order_by("unknown_count", "person_id").first()
    page = client.get(f"/prescreen/{one.pk}/").content.decode()
    assert "Start a screening record" in page and one.sources["hospitalized"] in page
    token = client.cookies["csrftoken"].value
    started = client.post(f"/prescreen/{one.pk}/start", {"csrfmiddlewaretoken": token})
    assert started.status_code == 302
    start = PrescreenStart.objects.get(candidate=one)
    assert start.participant.site.code == "MSKCC" and start.started_by == staff["coordinator@MSKCC"]
    assert started["Location"] == f"/participants/{start.participant.screening_number}/screening/"
    version = ScreeningVersion.objects.get(participant=start.participant)
    assert version.data == one.record and version.verdict == one.verdict
    assert f"person {one.person_id}" in version.reason and one.sources["hospitalized"] in version.reason
    assert AuditRecord.objects.filter(action="prescreen.start", object_id=f"{loaded.pk}/{one.person_id}").exists()
    again = client.post(f"/prescreen/{one.pk}/start", {"csrfmiddlewaretoken": token})
    assert again.status_code == 302 and PrescreenStart.objects.filter(candidate=one).count() == 1


def test_the_pharmacist_cannot_start_a_screening(
    loaded: Any, staff: dict[str, Any], login: Callable[[Any], Any]
) -> None:
    client = login(staff["unblinded-pharmacist@MSKCC"])
    one = loaded.candidates.first()
    response = client.post(f"/prescreen/{one.pk}/start", {"csrfmiddlewaretoken": client.cookies["csrftoken"].value})
    assert response.status_code == 403


def test_cli_load_is_one_audited_action(staff: dict[str, Any], omop: tuple[Path, str], tmp_path: Path) -> None:
    from iliad7.cli import app
    from iliad7.store.models import AuditRecord, PrescreenRun

    folder, t0 = omop
    user = staff["coordinator@MDACC"].username
    args = ["prescreen", "--omop", str(folder), "--as-of", t0, "--out", str(tmp_path / "out.jsonl"), "--site", "MDACC"]
    refused = CliRunner().invoke(app, [*args, "--load"])
    assert refused.exit_code == 2 and "--load" in refused.output
    wrong_site = CliRunner().invoke(app, [*args[:-1], "NOWHERE", "--load", "--as", user])
    assert wrong_site.exit_code == 2 and "--site" in wrong_site.output
    result = CliRunner().invoke(app, [*args, "--load", "--as", user, "--jobs", "1"])
    assert result.exit_code == 0, result.output
    run_row = PrescreenRun.objects.get(site__code="MDACC")
    assert run_row.loaded_by.username == user and run_row.channel == "cli"
    assert run_row.candidate_count == run_row.candidates.count() > 0
    assert AuditRecord.objects.filter(action="prescreen.load", object_id=str(run_row.pk), actor=user).count() == 1
    monitor = CliRunner().invoke(app, [*args, "--load", "--as", staff["monitor@MDACC"].username, "--jobs", "1"])
    assert monitor.exit_code == 1 and "participant.create" in monitor.output
