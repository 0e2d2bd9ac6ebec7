"""Layout rules of the trial database: pure packages stay pure, writes live in actions."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[2] / "src" / "iliad7"
APPEND_ONLY_OR_AUDITED = {"AuditRecord", "ItemValue", "Signature", "Participant", "RoleGrant"}
WRITE_METHODS = {"create", "bulk_create", "update", "delete", "get_or_create", "update_or_create"}
# Where writes to those models may happen: the actions and the audit trail.
WRITERS = ("store/actions/", "audit/trail.py", "store/migrations/")


def test_pure_packages_import_no_django() -> None:
    code = (
        "import sys, iliad7.accounts, iliad7.audit.chain, iliad7.errors;"
        "print(sorted(m for m in sys.modules if m == 'django' or m.startswith('django.')))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"


def test_the_cli_starts_without_django() -> None:
    code = "import sys, iliad7.cli; print('django' in sys.modules)"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "False"


def _model_writes(path: Path) -> list[str]:
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)):
            continue
        if node.func.attr not in WRITE_METHODS:
            continue
        # Model.objects.<write>(...) or Model.objects.filter(...).<write>(...)
        root = node.func.value
        while isinstance(root, ast.Call | ast.Attribute):
            root = root.func if isinstance(root, ast.Call) else root.value
        if isinstance(root, ast.Name) and root.id in APPEND_ONLY_OR_AUDITED:
            found.append(f"{path.relative_to(SRC)}:{node.lineno} {root.id}.{node.func.attr}")
    return found


def test_audited_models_are_written_only_by_actions_and_the_trail() -> None:
    offenders = [
        hit
        for path in SRC.rglob("*.py")
        if not str(path.relative_to(SRC)).startswith(WRITERS)
        for hit in _model_writes(path)
    ]
    assert offenders == []


def test_the_write_detector_sees_a_write() -> None:
    # Guard the guard: the detector must flag the pattern it is meant to find.
    assert _model_writes(SRC / "store" / "actions" / "items.py")


@pytest.mark.django_db
def test_user_totp_enrols_a_device_and_audits_it(make_user) -> None:  # type: ignore[no-untyped-def]
    from typer.testing import CliRunner

    from iliad7.cli import app
    from iliad7.store.access import second_factor_required
    from iliad7.store.models import AuditRecord

    pharmacist = make_user("rx", ["unblinded-pharmacist"], ["MSKCC"])
    assert second_factor_required(pharmacist)
    result = CliRunner().invoke(app, ["user", "totp", "rx", "--qr"])
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("otpauth://totp/")
    assert "█" in result.stdout  # the QR code
    record = AuditRecord.objects.get(action="user.second_factor_added")
    assert record.object_id == "rx" and "secret" not in record.new_value
