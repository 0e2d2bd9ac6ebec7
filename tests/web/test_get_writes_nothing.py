"""A GET never writes: every page and every API read, for every role (and signed out), changes no row.

Before issue 16 every request saved the session row (SESSION_SAVE_EVERY_REQUEST, for the idle
timeout), so every page view was a database write. Now the idle clock is a signed cookie
(iliad7.web.idle). The only rows a GET may add are the audit records of the reads that matter
(`read.*`, iliad7.store.actions.reads: the pharmacist's worksheet, a closed report, the list of
emergency unblindings...), and the test checks that those are written where they must be.
"""

from __future__ import annotations

import re
from typing import Any

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

pytestmark = pytest.mark.django_db

_WRITE = re.compile(r"^\s*(INSERT|UPDATE|DELETE|REPLACE|TRUNCATE|ALTER|CREATE|DROP)\b", re.IGNORECASE)
_AUDIT_TABLES = ("store_auditrecord", "store_auditchainhead")


def _web_routes() -> list[str]:
    """Every GET-able page route of the app, with its converters as `<name>`."""
    from django.urls import URLPattern, URLResolver, get_resolver

    routes: list[str] = []

    def walk(patterns: list[Any], prefix: str) -> None:
        for entry in patterns:
            route = prefix + str(entry.pattern)
            if isinstance(entry, URLResolver):
                if route.startswith("api/"):
                    continue  # the API is played from its OpenAPI document
                walk(entry.url_patterns, route)
            elif isinstance(entry, URLPattern):
                routes.append(route)

    walk(get_resolver().url_patterns, "")
    return sorted(set(routes))


def _api_routes() -> list[str]:
    from iliad7.web.api import api

    document = api.get_openapi_schema()
    return sorted(path for path, operations in document["paths"].items() if "get" in operations)


def _fill(route: str, values: dict[str, list[str]]) -> list[str]:
    names = re.findall(r"<(?:\w+:)?(\w+)>|\{(\w+)\}", route)
    urls = [route]
    for angle, brace in names:
        name = angle or brace
        expanded = []
        for url in urls:
            for value in values[name]:
                expanded.append(re.sub(r"<(?:\w+:)?" + name + r">|\{" + name + r"\}", value, url, count=1))
        urls = expanded
    return ["/" + url.lstrip("/") for url in urls]


@pytest.fixture
def closed_report(staff: dict[str, Any], trial: dict[str, Any], settings: Any) -> str:
    """A closed report in the unblinded statistician's folder (the web page's name for it)."""
    from pathlib import Path

    from iliad7.store.actions.reports import write_trial_report

    name = "20261125T120000000000Z-closed"
    folder = Path(settings.ILIAD7_HOME) / "reports" / f"user-{staff['unblinded-statistician'].pk}" / name
    write_trial_report(staff["unblinded-statistician"], folder, closed=True, channel="web")
    return name


def test_no_get_of_any_page_or_api_writes_anything_but_the_audited_reads(
    staff: dict[str, Any], trial: dict[str, Any], login: Any, closed_report: str
) -> None:
    from iliad7.protocol import load_protocol
    from iliad7.store.models import AuditRecord, DataQuery

    participant = trial["randomized@MSKCC"]
    values = {
        "screening_number": [participant.screening_number, trial["new@MSKCC"].screening_number],
        "form_id": [f.id for f in load_protocol().forms],
        "query_id": [str(DataQuery.objects.order_by("id").first().pk)],
        "site_code": ["MSKCC"],
        "name": [closed_report],
        "filename": ["report.html"],
        "path": ["iliad7.css"],
        "candidate_id": ["1"],  # no pre-screening run is loaded here: a read of nothing writes nothing
        "notice_id": ["1"],  # a POST-only dismissal: a GET must write nothing either
        "job_id": ["20261204T120000Z-csv-0123abcd"],  # an export job (none exists: a read of nothing)
        "job": ["20261204T120000Z-csv-0123abcd"],
    }
    urls = [u for route in _web_routes() for u in _fill(route, values)]
    urls += [u for route in _api_routes() for u in _fill(route, values)]
    assert len(urls) > 80 and any("/pharmacy/" in u for u in urls) and any("/api/audit/records" in u for u in urls)
    assert {"/dashboard/", "/worklist/", "/trial/"} <= set(urls)  # the issue-17 pages, read by every role
    clients: dict[str, Client] = {"signed out": Client()}
    clients.update({who: login(user) for who, user in staff.items()})
    reads: dict[str, set[str]] = {}
    problems: list[str] = []
    for who, client in clients.items():
        for url in urls:
            last = AuditRecord.objects.order_by("-id").values_list("id", flat=True).first() or 0
            with CaptureQueriesContext(connection) as queries:
                response = client.get(url)
            assert response.status_code < 500, (who, url, response.status_code)
            writes = [q["sql"] for q in queries.captured_queries if _WRITE.match(q["sql"])]
            added = list(AuditRecord.objects.filter(id__gt=last).values_list("action", flat=True))
            outside = [sql for sql in writes if not any(f'"{t}"' in sql or f" {t} " in sql for t in _AUDIT_TABLES)]
            if outside or any(not action.startswith("read.") for action in added):
                problems.append(f"{who} GET {url}: {outside[:2] or added}")
            for action in added:
                reads.setdefault(action, set()).add(f"{who} {url}")
    assert problems == []
    pharmacist = "unblinded-pharmacist@MSKCC"
    sn = participant.screening_number
    assert f"{pharmacist} /participants/{sn}/pharmacy/" in reads["read.pharmacy_worksheet"]
    assert f"{pharmacist} /api/participants/{sn}/pharmacy/worksheet" in reads["read.pharmacy_worksheet"]
    assert f"unblinded-statistician /reports/{closed_report}/report.html" in reads["read.closed_report"]
    assert "sponsor-viewer /api/unblinding-events" in reads["read.unblinding_events"]
    assert set(reads) == {"read.pharmacy_worksheet", "read.closed_report", "read.unblinding_events"}
    # Nobody else's GET is audited as a read it did not make: each read names its reader.
    for action, seen in reads.items():
        readers = {entry.split(" ", 1)[0] for entry in seen}
        actors = set(AuditRecord.objects.filter(action=action).values_list("actor", flat=True))
        assert actors == {staff[r].username for r in readers}, action
