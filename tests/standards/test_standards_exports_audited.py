"""Every export is an audited read (issue 16): who exported what, blinded or not; never the content or an arm."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.django_db


def test_each_export_leaves_a_read_record_naming_no_arm(cohort: dict[str, Any], tmp_path: Path) -> None:
    from iliad7.standards.exports import export_adam, export_sdtm, export_tables
    from iliad7.standards.odm import export_odm
    from iliad7.store.models import AuditRecord

    export_sdtm(cohort["stat"], tmp_path / "sdtm", channel="cli")  # unblinded: the datasets hold the arms
    export_adam(cohort["dm"], tmp_path / "adam", channel="cli")
    export_tables(cohort["dm"], tmp_path / "csv", fmt="csv", channel="cli")
    export_odm(cohort["dm"], tmp_path / "study.xml", channel="cli")
    records = list(AuditRecord.objects.filter(action="read.export").order_by("id"))
    assert [(r.actor, r.object_id) for r in records] == [
        (cohort["stat"].username, "sdtm"), ("dm", "adam"), ("dm", "adam-csv"), ("dm", "odm")
    ]  # fmt: skip
    first = json.loads(records[0].new_value)
    assert first["blinded"] is False and "DM" in first["datasets"] and first["folder"] == "sdtm"
    assert json.loads(records[1].new_value)["blinded"] is True
    text = " ".join(r.new_value for r in records).lower()
    assert not any(word in text for word in ("cyt107", "placebo", "saline"))
