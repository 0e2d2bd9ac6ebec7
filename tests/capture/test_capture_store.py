"""Saving forms in the trial database: all or nothing, every version kept, derived values beside their inputs."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from iliad7.errors import AccessDenied, InputError

pytestmark = pytest.mark.django_db

VITALS = {
    "assessed_at": "2026-11-20T10:00:00-05:00", "respiratory_rate": "22", "spo2": "93", "spo2_scale": "1",
    "on_supplemental_oxygen": "yes", "oxygen_flow_lpm": "4", "systolic_bp": "105", "pulse": "112",
    "consciousness": "A", "temperature": "38.4",
}  # fmt: skip
LAB = {
    "collected_at": "2026-11-20T06:00:00-05:00", "alc": "650", "alc.unit": "cells/uL", "alc_lln": "1000",
    "alt": "200", "alt_uln": "40",
}  # fmt: skip


def today() -> str:
    return datetime.now(ZoneInfo("America/New_York")).date().isoformat()


def every_form_bad() -> dict[str, tuple[str, dict[str, Any], str]]:
    """(visit, values with one bad item, the bad item) for every form."""
    return {
        "VITALS": ("", {**VITALS, "pulse": "fast"}, "pulse"),
        "CLINICAL-STATUS": ("", {"assessed_on": "2026-11-20", "dead": "no", "hospitalized": "maybe"}, "hospitalized"),
        "SOFA": ("BASELINE", {"assessed_on": "2026-11-20", "gcs": "16"}, "gcs"),
        "LAB": ("BASELINE", {**LAB, "alc.unit": "mmol/L"}, "alc.unit"),
        "VIRAL-LOAD": ("BASELINE", {"collected_at": "yesterday", "specimen": "other", "detected": "true", "ct_value": "30"}, "collected_at"),
        "STUDY-DRUG": ("BASELINE", {"given": "no"}, "not_given_reason"),
        "HOSPITAL-STAY": ("", {"stay_type": "hospital", "readmission": "false", "admitted_at": "2026-11-19T10:00:00-05:00",
                              "discharged_at": "2026-11-18T10:00:00-05:00"}, "discharged_at"),
        "ORGAN-SUPPORT": ("", {"support_type": "balloon", "started_at": "2026-11-19T10:00:00-05:00"}, "support_type"),
        "SECONDARY-INFECTION": ("", {"onset_date": "2026-11-22", "infection_site": "bloodstream",
                                    "organism_type": "bacterial", "culture_confirmed": "yes"}, "organism"),
        "ADVERSE-EVENT": ("", {"term": "Anemia", "grade": "7", "onset_date": "2026-11-21", "serious": "no",
                              "relatedness": "possible", "expected": "no", "outcome": "recovering"}, "grade"),
        "DEATH": ("", {"death_date": "2020-01-01", "primary_cause": "covid_19", "cause_text": "COVID-19"}, "death_date"),
        "END-OF-STUDY": ("", {"end_status": "withdrew_consent", "end_date": today()}, "withdrawal_reason"),
        "DEMOGRAPHICS": ("SCREENING", {"collected_on": today(), "race": "martian", "ethnicity": "unknown"}, "race"),
    }  # fmt: skip


def test_bad_input_in_every_form_stores_nothing_and_returns_the_typed_text(save: Callable[..., Any]) -> None:
    from iliad7.protocol import load_protocol
    from iliad7.store.actions.capture import FormRejected
    from iliad7.store.models import AuditRecord, ItemValue

    cases = every_form_bad()
    assert sorted(cases) == sorted(f.id for f in load_protocol().forms)
    values_before, audit_before = ItemValue.objects.count(), AuditRecord.objects.count()
    for form, (visit, values, bad) in cases.items():
        with pytest.raises(FormRejected) as rejected:
            save(form, values, visit=visit)
        assert bad in {m.field for m in rejected.value.messages}, (form, rejected.value.messages)
        typed = rejected.value.check.items
        for key, text in values.items():
            item, _, unit = key.partition(".")
            result = typed[item]
            assert (result.unit_text if unit else result.text) == text
    assert ItemValue.objects.count() == values_before
    assert AuditRecord.objects.count() == audit_before


def test_a_saved_vitals_form_stores_each_item_and_news2_marked_derived(
    save: Callable[..., Any], participant: Any
) -> None:
    import json

    from iliad7.store.actions.queries import saved_form
    from iliad7.store.models import AuditRecord

    result = save("VITALS", VITALS)
    assert result.derived["news2"].value == "10"
    form = saved_form(participant, "VITALS")
    assert form.values["pulse"].value == "112" and form.values["pulse"].unit == "/min"
    assert form.values["assessed_at"].value == "2026-11-20T15:00:00+00:00"
    assert form.values["pulse"].derivation is None
    news2 = form.derived["news2"]
    assert news2.value == "10"
    derivation = json.loads(news2.derivation)
    assert derivation["rule"] == "clinical-rules 2.1"
    assert derivation["inputs"]["pulse"] == 112.0
    assert derivation["result"]["components"]["pulse"] == 2
    actions = list(AuditRecord.objects.order_by("-id").values_list("action", flat=True)[: len(result.written) + 1])
    assert actions[0] == "form.save" and set(actions[1:]) == {"item.record"}


def test_a_value_corrected_three_times_keeps_all_four_versions(save: Callable[..., Any], participant: Any) -> None:
    from iliad7.store.actions import item_history

    save("LAB", LAB, visit="BASELINE")
    for alc, why in (("640", "transcription"), ("630", "lab amended"), ("620", "second amendment")):
        save("LAB", {**LAB, "alc": alc}, visit="BASELINE", reason=why)
    versions = item_history(participant, form="LAB", item="alc", visit="BASELINE")
    assert [(v.version, v.value, v.reason) for v in versions] == [
        (1, "650", ""), (2, "640", "transcription"), (3, "630", "lab amended"), (4, "620", "second amendment"),
    ]  # fmt: skip
    grades = item_history(participant, form="LAB", item="ctcae_lymphocyte_count_decreased", visit="BASELINE")
    assert [g.value for g in grades] == ["2"] * len(grades) and len(grades) == 4  # inputs changed each time


def test_a_correction_without_a_reason_is_refused_and_stores_nothing(
    save: Callable[..., Any], participant: Any
) -> None:
    from iliad7.store.models import ItemValue

    save("LAB", LAB, visit="BASELINE")
    count = ItemValue.objects.count()
    with pytest.raises(InputError) as refused:
        save("LAB", {**LAB, "alc": "700"}, visit="BASELINE")
    assert refused.value.field == "reason"
    assert ItemValue.objects.count() == count


def test_saving_the_same_values_again_writes_nothing(save: Callable[..., Any]) -> None:
    save("VITALS", VITALS)
    again = save("VITALS", VITALS)
    assert again.written == []


def test_a_warning_is_kept_with_the_saved_data(save: Callable[..., Any]) -> None:
    result = save("VITALS", {**VITALS, "pulse": "210"})
    assert [(m.field, m.kind) for m in result.warnings] == [("pulse", "expected-range")]
    assert any(v.item == "pulse" and v.value == "210" for v in result.written)


def test_death_before_randomization_is_refused_in_the_store(save: Callable[..., Any]) -> None:
    from iliad7.store.actions.capture import FormRejected

    yesterday = (datetime.now(ZoneInfo("America/New_York")).date() - timedelta(days=1)).isoformat()
    with pytest.raises(FormRejected) as rejected:
        save("DEATH", {"death_date": yesterday, "primary_cause": "covid_19", "cause_text": "COVID-19"})
    assert [m.check for m in rejected.value.messages] == ["DTH-AFTER-T0"]
    assert save("DEATH", {"death_date": today(), "primary_cause": "covid_19", "cause_text": "COVID-19"}).written


def test_a_monitor_cannot_enter_data(staff: dict[str, Any], participant: Any) -> None:
    from iliad7.store.actions.capture import save_form

    with pytest.raises(AccessDenied):
        save_form(participant, "VITALS", VITALS, acting_user=staff["monitor"], channel="web")


def test_the_capture_audit_records_never_name_the_arm(
    save: Callable[..., Any], staff: dict[str, Any], participant: Any
) -> None:
    from iliad7.store.actions.capture import raise_query
    from iliad7.store.models import AuditRecord

    save("LAB", LAB, visit="BASELINE")
    raise_query(participant, form="LAB", item="alc", visit="BASELINE", text="Source says 560?",
                acting_user=staff["monitor"], channel="web")  # fmt: skip
    for record in AuditRecord.objects.filter(action__startswith=("form.")) | AuditRecord.objects.filter(
        action__startswith="query."
    ):
        text = record.new_value + record.old_value
        assert "CYT107" not in text and "placebo" not in text and '"arm"' not in text


def test_a_derived_grade_is_cleared_when_its_lab_value_is_cleared(save: Callable[..., Any], participant: Any) -> None:
    from iliad7.store.actions.queries import saved_form

    save("LAB", LAB, visit="BASELINE")
    values = {k: v for k, v in LAB.items() if not k.startswith("alc")}
    save("LAB", values, visit="BASELINE", reason="ALC entered on the wrong participant")
    form = saved_form(participant, "LAB", "BASELINE")
    assert form.values["alc"].value == "" and form.derived["ctcae_lymphocyte_count_decreased"].value == ""
    assert form.derived["ctcae_alt_increased"].value == "2"


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("form", "values", "status"),
    [
        ("DEATH", {"death_date": "today", "primary_cause": "unknown", "cause_text": "not known"}, "died"),
        (
            "END-OF-STUDY",
            {"end_status": "withdrew_consent", "end_date": "today", "withdrawal_reason": "moved away"},
            "withdrawn",
        ),
        ("END-OF-STUDY", {"end_status": "lost_to_follow_up", "end_date": "today"}, "lost_to_follow_up"),
    ],
)
def test_the_status_follows_a_saved_death_or_end_of_study_form(save, participant, form, values, status) -> None:  # type: ignore[no-untyped-def]
    today_at_the_site = today()  # the site's date: a check on a date compares it with the site's own day
    save(form, {k: (today_at_the_site if v == "today" else v) for k, v in values.items()}, user="inv")
    participant.refresh_from_db()
    assert participant.status == status


def test_rna_not_detected_is_saved_with_collection_specimen_and_detected_only(
    save: Callable[..., Any], participant: Any
) -> None:
    from iliad7.store.actions.capture import FormRejected
    from iliad7.store.actions.queries import saved_form
    from iliad7.store.models import ItemValue

    not_detected = {"collected_at": "2026-11-20T06:00:00-05:00", "specimen": "nasopharyngeal", "detected": "false"}
    with pytest.raises(FormRejected) as rejected:  # RNA detected: a Ct or a load is still required
        save("VIRAL-LOAD", {**not_detected, "detected": "true"}, visit="DOSE4")
    assert [(m.field, m.check) for m in rejected.value.messages] == [("ct_value", "VL-RESULT")]
    assert not ItemValue.objects.filter(participant=participant, form="VIRAL-LOAD").exists()
    save("VIRAL-LOAD", not_detected, visit="BASELINE")
    stored = saved_form(participant, "VIRAL-LOAD", "BASELINE", 1).values
    assert {item: row.value for item, row in stored.items()} == {
        "collected_at": "2026-11-20T11:00:00+00:00",
        "specimen": "nasopharyngeal",
        "detected": "false",
    }
