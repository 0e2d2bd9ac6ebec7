"""Valid values of every protocol form, and one deliberately wrong value per form, for the capture tests.

Times are a minute ago (UTC, as the pages take them) and dates are today at the
participant's site, so that the not-in-future and not-before-randomization
checks pass for a participant randomized in the test.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo


def moment(minutes_ago: int = 1) -> str:
    return (datetime.now(UTC) - timedelta(minutes=minutes_ago)).strftime("%Y-%m-%dT%H:%M")


def today(zone: str = "America/New_York") -> str:
    return datetime.now(ZoneInfo(zone)).date().isoformat()


def valid_values(form_id: str, site: str = "MSKCC") -> tuple[str, dict[str, str]]:
    """(visit, page values) of a form that passes every error check at `site` (dates are its today)."""
    from iliad7.store.actions.pharmacy import SITE_TIME_ZONES

    now, day = moment(), today(SITE_TIME_ZONES[site])
    forms: dict[str, tuple[str, dict[str, str]]] = {
        "DEMOGRAPHICS": ("SCREENING", {"collected_on": day, "race": "not_reported", "ethnicity": "unknown"}),
        "VITALS": ("", {
            "assessed_at": now, "respiratory_rate": "22", "spo2": "93", "spo2_scale": "1",
            "on_supplemental_oxygen": "true", "oxygen_flow_lpm": "4", "systolic_bp": "105", "diastolic_bp": "70",
            "pulse": "112", "consciousness": "A", "temperature": "38.4",
        }),
        "CLINICAL-STATUS": ("", {
            "assessed_on": day, "dead": "false", "hospitalized": "true", "oxygen_support": "mask_or_nasal_prongs",
        }),
        "SOFA": ("BASELINE", {
            "assessed_on": day, "pao2_fio2": "250", "respiratory_support": "false", "platelets": "140",
            "platelets.unit": "10^3/uL", "bilirubin": "1.0", "bilirubin.unit": "mg/dL", "map": "75", "gcs": "15",
            "creatinine": "1.1", "creatinine.unit": "mg/dL",
        }),
        "LAB": ("BASELINE", {
            "collected_at": now, "alc": "650", "alc.unit": "cells/uL", "alc_lln": "1000", "crp": "80",
        }),
        "VIRAL-LOAD": ("BASELINE", {
            "collected_at": now, "specimen": "nasopharyngeal", "detected": "true", "ct_value": "24.5",
        }),
        # A dose given is recorded on the dose page (which fills STUDY-DRUG); the form itself records a dose
        # not given, with its reason.
        "STUDY-DRUG": ("BASELINE", {
            "given": "false", "not_given_reason": "Discharged before the dose could be given",
        }),
        "HOSPITAL-STAY": ("", {
            "stay_type": "hospital", "readmission": "false", "admitted_at": moment(60 * 24 * 3),
        }),
        "ORGAN-SUPPORT": ("", {"support_type": "high_flow_oxygen", "started_at": moment(60)}),
        "SECONDARY-INFECTION": ("", {
            "onset_date": day, "infection_site": "bloodstream", "organism_type": "bacterial",
            "organism": "Escherichia coli", "culture_confirmed": "true",
        }),
        "ADVERSE-EVENT": ("", {
            "term": "Lymphocyte count decreased", "grade": "2", "onset_date": day, "serious": "false",
            "relatedness": "unlikely", "expected": "false", "outcome": "not_recovered",
            "lab_term": "lymphocyte_count_decreased", "lab_value": "650", "lab_unit": "cells/uL",
            "lab_lln": "1000",
        }),
        "DEATH": ("", {"death_date": day, "primary_cause": "covid_19", "cause_text": "COVID-19 pneumonia"}),
        "END-OF-STUDY": ("", {
            "end_status": "withdrew_consent", "end_date": day, "withdrawal_reason": "Asked to stop follow-up",
        }),
    }  # fmt: skip
    visit, values = forms[form_id]
    return visit, dict(values)


def wrong_value(form: Any) -> tuple[str, str]:
    """(item id, text) of one deliberately wrong value: beyond a numeric item's possible range, else no choice."""
    for item in form.items:
        if item.type in ("integer", "decimal") and item.physical is not None and item.physical.max is not None:
            return item.id, str(int(item.physical.max) + 1000)
    for item in form.items:
        if item.type == "choice":
            return item.id, "not-a-choice"
    raise AssertionError(f"form {form.id} has no numeric or choice item")


def fill_visit(participant: Any, visit: str, user: Any, site: str = "MSKCC") -> dict[str, dict[str, str]]:
    """Save valid values in every form of `visit` still empty (STUDY-DRUG comes from a dose); {form: values}."""
    from iliad7.protocol import load_protocol
    from iliad7.schedule import visit_forms
    from iliad7.store import actions

    saved: dict[str, dict[str, str]] = {}
    for form in visit_forms(load_protocol())[visit]:
        if form == "STUDY-DRUG" or actions.saved_form(participant, form, visit, 1).values:
            continue
        _, values = valid_values(form, site)
        for key in ("collected_at", "assessed_at"):
            if key in values:
                values[key] += "+00:00"
        actions.save_form(participant, form, values, visit=visit, acting_user=user, channel="web")
        saved[form] = values
    return saved
