"""Loading the protocol: stored byte for byte with its SHA-256; an amendment adds a version."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from iliad7.errors import InputError

pytestmark = pytest.mark.django_db

PROTOCOL = Path(__file__).resolve().parents[2] / "protocols" / "iliad-7-us-o.yaml"


def test_loading_the_same_file_twice_adds_nothing() -> None:
    from iliad7.store.actions import load_protocol_version
    from iliad7.store.models import AuditRecord, ProtocolVersion, Site

    first = load_protocol_version(PROTOCOL)
    records = AuditRecord.objects.count()
    again = load_protocol_version(PROTOCOL)
    assert first.created and not again.created
    assert again.version.pk == first.version.pk
    assert again.sites_added == () and again.sites_renamed == ()
    assert AuditRecord.objects.count() == records
    assert ProtocolVersion.objects.count() == 1
    assert list(Site.objects.values_list("code", flat=True)) == ["MSKCC", "MDACC"]
    assert first.version.sha256 == hashlib.sha256(PROTOCOL.read_bytes()).hexdigest()
    assert first.version.raw_text == PROTOCOL.read_text(encoding="utf-8")


def test_amendment_renaming_a_site_adds_a_version_and_audits_the_rename(tmp_path: Path) -> None:
    from iliad7.store.actions import load_protocol_version
    from iliad7.store.models import AuditRecord, ProtocolVersion, Site

    load_protocol_version(PROTOCOL)
    text = PROTOCOL.read_text(encoding="utf-8")
    old_name = "name: Memorial Sloan Kettering Cancer Center"
    assert old_name in text
    amended = tmp_path / "amendment.yaml"
    amended.write_text(text.replace(old_name, "name: Memorial Sloan Kettering", 1), encoding="utf-8")
    loaded = load_protocol_version(amended)
    assert loaded.created and loaded.version.version == 2
    assert loaded.sites_renamed == ("MSKCC",)
    assert Site.objects.get(code="MSKCC").name == "Memorial Sloan Kettering"
    assert ProtocolVersion.objects.get(version=1).raw_text == text  # never rewritten
    rename = AuditRecord.objects.get(action="site.rename")
    assert rename.reason == "protocol version 2"


def test_unreadable_protocol_is_bad_input_naming_the_field(tmp_path: Path) -> None:
    from iliad7.store.actions import load_protocol_version

    with pytest.raises(InputError) as bad:
        load_protocol_version(tmp_path / "missing.yaml")
    assert bad.value.field == "protocol"
