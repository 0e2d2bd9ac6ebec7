"""Hostile input to the eligibility, screening and item (lab, vital sign, AE) endpoints: refused by name, nothing stored.

Hypothesis mutates the eligible example record one field at a time with values no
field can take (oversized text, wrong types, numbers out of every range, unknown
keys, malformed dates) and posts it to the pure evaluation and to the stored
screening of a participant: each answer is a 4xx whose `field` names the mutated
field, and not one row of the trial database changes. The item endpoint gets
malformed bodies the same way. ILIAD7_FORM_FUZZ_EXAMPLES sets the examples per
test (25 here, more in `make soak`).

The item endpoint checks each value against the protocol's form (the form
and item exist, the visit is one of the form's, the type, unit and physical
range): a wrong one is refused by the field it is in.
"""

from __future__ import annotations

import copy
import json
import os
from html.parser import HTMLParser
from typing import Any
from urllib.parse import urlencode

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

pytestmark = pytest.mark.django_db

EXAMPLES = int(os.environ.get("ILIAD7_FORM_FUZZ_EXAMPLES", "25"))
FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

# Values that no field of the screening record accepts, whatever its kind (strict JSON validation:
# no string is read as a number or a date, no number as a boolean).
NEVER_VALID = st.one_of(
    st.text(min_size=1, max_size=30).filter(lambda s: s.strip() not in ("male", "female", "other", "unknown")),
    st.just("x" * 100_000),  # oversized
    st.integers(min_value=10**12, max_value=10**30),  # out of every range
    st.integers(max_value=-1),
    st.dictionaries(st.just("zz_not_a_field"), st.integers(), min_size=1),
    st.lists(st.text(max_size=5), min_size=1, max_size=3),
    st.sampled_from(["2020-02-30", "31/12/2020", "2020-13-01T00:00:00Z", "yesterday", "1e999"]),
)


def _fields() -> list[str]:
    from iliad7.eligibility.record import SCREENING_RECORD

    return sorted(SCREENING_RECORD.json_schema()["properties"])


def _row_counts() -> dict[str, int]:
    from django.apps import apps

    return {m.__name__: m.objects.count() for m in apps.get_app_config("store").get_models()}


def _acceptable(field: str, value: object) -> bool:
    # The few (field, value) pairs above that a field legitimately takes.
    return field == "sofa" and isinstance(value, int) and 0 <= value <= 24


@pytest.fixture
def coordinator(staff, login):  # type: ignore[no-untyped-def]
    return login(staff["coordinator@MSKCC"])


def test_mutated_screening_records_are_refused_by_field_name_and_store_nothing(
    coordinator, trial, api_post, example_record
) -> None:  # type: ignore[no-untyped-def]
    sn = trial["new@MSKCC"].screening_number
    before = _row_counts()

    @FUZZ
    @given(field=st.sampled_from(_fields()), value=NEVER_VALID)
    def check(field: str, value: object) -> None:
        if _acceptable(field, value):
            return
        record = copy.deepcopy(example_record)
        record[field] = value
        for path in ("/api/screening/evaluate", f"/api/participants/{sn}/screening"):
            response = api_post(coordinator, path, record)
            assert response.status_code == 422, (path, field, response.status_code, response.content[:300])
            named = response.json()["field"]
            assert named == field or named.startswith(f"{field}."), (path, field, named)
        assert _row_counts() == before

    check()


def test_malformed_json_and_non_objects_are_refused_and_store_nothing(coordinator, trial) -> None:  # type: ignore[no-untyped-def]
    sn = trial["new@MSKCC"].screening_number
    token = coordinator.cookies["csrftoken"].value
    before = _row_counts()

    @FUZZ
    @given(body=st.one_of(st.binary(max_size=200), st.sampled_from([b"[]", b"null", b"1", b'"x"', b"{", b"NaN"])))
    def check(body: bytes) -> None:
        try:
            if isinstance(json.loads(body), dict):
                return  # a JSON object is judged field by field (the test above)
        except (ValueError, UnicodeDecodeError):
            pass
        for path in ("/api/screening/evaluate", f"/api/participants/{sn}/screening", f"/api/participants/{sn}/items"):
            response = coordinator.post(path, data=body, content_type="application/json", HTTP_X_CSRFTOKEN=token)
            assert 400 <= response.status_code < 500, (path, body, response.status_code)
            answer = response.json()
            # The screening endpoints name the body; ninja's own parse error on /items says only "Cannot
            # parse request body" (no `field`): reported in docs/reliability.md.
            assert answer.get("field") if "/items" not in path else answer.get("detail"), (path, body, answer)
        assert _row_counts() == before

    check()


# A valid value of the protocol's LAB form (at a visit the trial fixture leaves empty): each case below
# spoils one field of it.
ITEM = {"form": "LAB", "item": "alc", "value": "1000", "unit": "cells/mm3", "visit": "DOSE3", "reason": "fuzz"}


def test_malformed_item_bodies_are_refused_by_field_name_and_store_nothing(coordinator, trial, api_post) -> None:  # type: ignore[no-untyped-def]
    sn = trial["randomized@MSKCC"].screening_number
    before = _row_counts()
    wrong_kind = st.one_of(
        st.integers(),
        st.lists(st.integers(), max_size=2),
        st.dictionaries(st.text(max_size=3), st.integers(), max_size=2),
        st.none(),
    )
    cases = st.one_of(
        st.tuples(st.sampled_from(["form", "item", "value", "unit", "visit", "reason"]), wrong_kind),
        st.tuples(
            st.just("instance"),
            st.one_of(
                st.integers(max_value=0),
                st.text(min_size=1, max_size=5),
                st.floats(allow_nan=False, allow_infinity=False).filter(lambda f: f != int(f)),
            ),
        ),
        st.tuples(st.sampled_from(["form", "item"]), st.sampled_from(["", "   "])),
    )

    @FUZZ
    @given(case=cases)
    def check(case: tuple[str, object]) -> None:
        field, value = case
        if field == "instance" and isinstance(value, str) and value.strip().lstrip("+").isdigit() and int(value) >= 1:
            return
        response = api_post(coordinator, f"/api/participants/{sn}/items", {**ITEM, field: value})
        assert response.status_code in (400, 422), (field, value, response.status_code, response.content[:300])
        assert response.json()["field"].split(".")[0] == field, (field, value, response.json())
        assert _row_counts() == before

    check()


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("value", "x" * 100_000),
        ("unit", "u" * 40),
        ("form", "F" * 100),
        ("item", "i" * 65),
        ("visit", "v" * 65),
        ("unit", "kg"),  # not a unit of the ALC
        ("value", "abc"),  # not a number
        ("value", "-5"),  # below the ALC's physical range
        ("value", "500001"),  # above it
        ("form", "NO-SUCH-FORM"),
        ("form", "STUDY-DRUG"),  # written by recording the dose, not one value at a time
        ("item", "no_such_item"),
        ("item", "ctcae_lymphocyte_count_decreased"),  # a derived value is not typed in
        ("visit", "D45"),  # LAB is not filled at day 45
    ],
)
def test_oversized_wrong_unit_and_unknown_item_values_are_refused(field, value, coordinator, trial, api_post) -> None:  # type: ignore[no-untyped-def]
    sn = trial["randomized@MSKCC"].screening_number
    before = _row_counts()
    try:
        response = api_post(coordinator, f"/api/participants/{sn}/items", {**ITEM, field: value})
    except Exception as exc:  # on PostgreSQL an over-long unit or name raises DataError (a 500 when served)
        pytest.fail(f"server error: {type(exc).__name__}")
    assert response.status_code in (400, 422) and response.json()["field"] == field
    assert _row_counts() == before


@pytest.mark.parametrize(("value", "unit"), [("0", "cells/mm3"), ("500000", "cells/mm3"), ("0.65", "10^9/L")])
def test_a_value_of_the_protocol_form_within_its_physical_range_is_stored(
    value, unit, coordinator, trial, api_post
) -> None:  # type: ignore[no-untyped-def]
    # The other side of the cases above: the same body, with a value and unit the ALC takes, is stored.
    sn = trial["randomized@MSKCC"].screening_number
    response = api_post(coordinator, f"/api/participants/{sn}/items", {**ITEM, "value": value, "unit": unit})
    assert response.status_code == 201, response.content[:300]
    assert (response.json()["form"], response.json()["value"], response.json()["unit"]) == ("LAB", value, unit)


def test_a_body_that_is_not_json_or_too_large_is_refused_naming_the_body(coordinator, trial) -> None:  # type: ignore[no-untyped-def]
    sn = trial["randomized@MSKCC"].screening_number
    before = _row_counts()
    token = coordinator.cookies["csrftoken"].value
    for body, status in (("{not json", 400), ('{"value": "' + "x" * 3_000_000 + '"}', 413)):
        response = coordinator.post(
            f"/api/participants/{sn}/items", data=body, content_type="application/json", HTTP_X_CSRFTOKEN=token
        )
        assert response.status_code == status
        assert response.json()["field"] == "body"
    assert _row_counts() == before


# ---------------------------------------------------------------- issue 22: every operation, every input


def _hostile() -> Any:
    import importlib.util
    import sys
    from pathlib import Path

    spec = importlib.util.spec_from_file_location("iliad7_hostile_values", Path(__file__).with_name("hostile.py"))
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


HOSTILE = _hostile()
# `make soak` (more examples) tries every hostile value on every input; the quick run a rotating few of them.
THOROUGH = EXAMPLES >= 50
HOSTILE_ROLES = (
    "coordinator@MSKCC",
    "investigator@MSKCC",
    "monitor@MSKCC",
    "data-manager",
    "unblinded-pharmacist@MSKCC",
    "unblinded-statistician",
    "infection-adjudicator",
)


def _known(trial: dict[str, Any]) -> dict[str, Any]:
    from iliad7.store.models import DataQuery

    query = DataQuery.objects.order_by("id").first()
    return {
        "screening_number": trial["randomized@MSKCC"].screening_number,
        "form_id": "LAB",
        "query_id": query.pk if query else 1,
        "site_code": "MSKCC",
        "instance": 1,
        "site": "MSKCC",
        "form": "LAB",
        "item": "alc",
        "lot": "LOT-1",
        "reason": "fuzz",
        "text": "fuzz",
    }


@pytest.mark.parametrize("who", HOSTILE_ROLES)
def test_no_operation_answers_5xx_to_huge_numbers_control_bidi_or_path_segments(who, staff, trial, login) -> None:  # type: ignore[no-untyped-def]
    """Every operation of the OpenAPI document, each input spoilt in turn by every hostile value of its kind."""
    client = login(staff[who])
    client.raise_request_exception = False
    document = client.get("/api/openapi.json").json()
    token = client.cookies["csrftoken"].value
    failures: list[str] = []
    tried = 0
    for case in HOSTILE.cases(document, _known(trial), per_input=None if THOROUGH else 6):
        tried += 1
        if case.method == "GET":
            response = client.get(case.url)
        else:
            response = client.generic(
                case.method, case.url, data=case.body or b"", content_type="application/json", HTTP_X_CSRFTOKEN=token
            )
        if response.status_code >= 500:
            failures.append(f"{case.method} {case.url[:120]} [{case.spoiled}]: {response.status_code}")
    assert tried > 1000, tried
    assert failures == [], "\n".join(failures[:40])


PAGE_VALUES = ("\x00", "\u202e1", "../../etc", "1e999999999", str(2**63), "9" * 23, "²", "x" * 5000)


class _Forms(HTMLParser):
    """The POST forms of a page: (action, {field: default value})."""

    def __init__(self) -> None:
        super().__init__()
        self.forms: list[tuple[str, dict[str, str]]] = []
        self._current: dict[str, str] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if tag == "form" and a.get("method", "get").lower() == "post":
            self._current = {}
            self.forms.append((a.get("action", ""), self._current))
        elif self._current is not None and tag in ("input", "select", "textarea") and a.get("name"):
            if a.get("type") in ("radio", "checkbox") and "checked" not in a:
                self._current.setdefault(a["name"], "")
                return
            self._current[a["name"]] = a.get("value", "")

    def handle_endtag(self, tag: str) -> None:
        if tag == "form":
            self._current = None


def _pages(trial: dict[str, Any]) -> list[str]:
    sn = trial["randomized@MSKCC"].screening_number
    screened = trial["screened@MSKCC"].screening_number
    return [
        "/", "/participants/", f"/participants/{sn}/", f"/participants/{screened}/screening/",
        f"/participants/{trial['consented@MSKCC'].screening_number}/consent/", f"/participants/{sn}/randomize/",
        f"/participants/{sn}/unblind/", f"/participants/{sn}/pharmacy/", f"/participants/{sn}/calendar/",
        f"/participants/{sn}/forms/LAB/", f"/participants/{sn}/forms/ADVERSE-EVENT/?instance=1",
        f"/participants/{sn}/casebook/", "/queries/", "/sae-clocks/", "/screening-log/", "/pharmacy/MSKCC/",
        "/audit/", "/infections/", "/reports/",
    ]  # fmt: skip


@pytest.mark.parametrize("who", HOSTILE_ROLES)
def test_no_page_answers_5xx_to_hostile_form_fields_or_query_strings(who, staff, trial, login) -> None:  # type: ignore[no-untyped-def]
    """Every POST form of every page the role reaches, each field spoilt in turn; every page with a hostile query."""
    client = login(staff[who])
    client.raise_request_exception = False
    failures: list[str] = []
    submitted = turn = 0
    for page in _pages(trial):
        response = client.get(page)
        if response.status_code >= 500:
            failures.append(f"GET {page}: {response.status_code}")
        if response.status_code != 200:
            continue
        for value in PAGE_VALUES:
            query = urlencode({"instance": value, "visit": value, "site": value, "next": value})
            answer = client.get(f"{page.partition('?')[0]}?{query}")
            if answer.status_code >= 500:
                failures.append(f"GET {page}?… {value[:20]!r}: {answer.status_code}")
        parser = _Forms()
        parser.feed(response.content.decode())
        for action, fields in parser.forms:
            target = action or page
            if "logout" in target:
                continue
            for name in [n for n in fields if n != "csrfmiddlewaretoken"]:
                turn += 1
                for value in HOSTILE.pick(PAGE_VALUES, None if THOROUGH else 3, turn):
                    data = {**fields, name: value, "csrfmiddlewaretoken": client.cookies["csrftoken"].value}
                    answer = client.post(target, data)
                    submitted += 1
                    if answer.status_code >= 500:
                        failures.append(f"POST {target} {name}={value[:20]!r}: {answer.status_code}")
    assert submitted > 20 or who == "infection-adjudicator", submitted  # no infection is reported in this trial
    assert failures == [], "\n".join(failures[:40])


@pytest.mark.parametrize(
    "body",
    [
        {"\x00\u00fe": True, "kind": "odm"},  # a NUL in a key: the fuzzer's finding (CI, 2026-12-05)
        {"kind": "odm\x00"},
        {"kind": "odm", "note": "\ud800"},  # a lone surrogate is not text
    ],
)
def test_text_no_column_can_hold_is_a_documented_validation_error_under_the_api(body, coordinator, api_post) -> None:  # type: ignore[no-untyped-def]
    # Every body-taking API operation documents 422 for a refused body; a 400 here is undocumented.
    before = _row_counts()
    response = api_post(coordinator, "/api/exports", body)
    assert response.status_code == 422, response.content[:300]
    assert response.json()["field"] in ("body", "kind", "note")
    assert _row_counts() == before


def test_every_operation_that_takes_a_body_or_a_query_documents_the_422_its_refusals_answer() -> None:
    # The refusal above comes before the operation runs, so the document must promise it for every body.
    from iliad7.web.api import api

    document = api.get_openapi_schema()
    undocumented = [
        f"{method.upper()} {path}"
        for path, operations in document["paths"].items()
        for method, operation in operations.items()
        if ("requestBody" in operation or any(p["in"] == "query" for p in operation.get("parameters", ())))
        and "422" not in {str(status) for status in operation["responses"]}
    ]
    assert undocumented == []
