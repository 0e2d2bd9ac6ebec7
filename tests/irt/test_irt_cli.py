"""The IRT commands of shared/spec/interfaces.md: names, outputs and exit statuses."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from .conftest import ARMS, SEED, eligible_record, totp_token

pytestmark = pytest.mark.django_db


def _run(app: Any, *args: str) -> Any:
    return CliRunner().invoke(app, list(args))


def test_randomize_json_prints_number_and_kit_never_the_arm(
    cli_app: Any, allocation: Any, staff: dict[str, Any], enrol: Any
) -> None:
    participant = enrol()
    done = _run(cli_app, "randomize", participant.screening_number, "--as", "inv", "--json")
    assert done.exit_code == 0, done.output
    result = json.loads(done.stdout)
    assert set(result) == {"usubjid", "randomization_number", "kit_code"}
    assert result["randomization_number"] == "MSKCC-001"
    assert not any(arm.lower() in done.output.lower() for arm in ARMS)
    participant.refresh_from_db()
    assert participant.usubjid == result["usubjid"]


def test_randomize_refusal_exits_1_with_the_reason(
    cli_app: Any, allocation: Any, staff: dict[str, Any], enrol: Any
) -> None:
    ineligible = enrol(record=eligible_record(clinical_frailty_scale=8))
    done = _run(cli_app, "randomize", ineligible.screening_number, "--as", "inv", "--json")
    assert done.exit_code == 1
    assert "ineligible" in done.stderr and "EXC-FRAILTY" in done.stderr
    assert done.stdout == ""
    other_site = _run(cli_app, "randomize", enrol().screening_number, "--as", "inv-mdacc", "--json")
    assert other_site.exit_code == 1 and "no participant" in other_site.stderr
    coordinator = _run(cli_app, "randomize", enrol().screening_number, "--as", "coord", "--json")
    assert coordinator.exit_code == 1 and "participant.randomize" in coordinator.stderr


def test_randomize_as_an_unknown_user_is_bad_input(cli_app: Any, allocation: Any, enrol: Any) -> None:
    done = _run(cli_app, "randomize", enrol().screening_number, "--as", "nobody", "--json")
    assert done.exit_code == 2 and "--as" in done.stderr


def test_generate_export_and_verify_through_the_cli(cli_app: Any, staff: dict[str, Any], tmp_path: Path) -> None:
    generated = _run(cli_app, "randomization", "generate", "--seed", str(SEED), "--as", "stat", "--slots", "8")
    assert generated.exit_code == 0, generated.output
    again = _run(cli_app, "randomization", "generate", "--seed", str(SEED), "--as", "stat")
    assert again.exit_code == 1 and "reason" in again.stderr
    out = tmp_path / "list.csv"
    exported = _run(cli_app, "randomization", "export", "--out", str(out), "--as", "stat")
    assert exported.exit_code == 0, exported.output
    lines = out.read_bytes().decode().split("\n")
    assert lines[0] == "stratum,block,block_size,sequence,randomization_number,arm,kit_code,usubjid"
    assert {line.split(",")[5] for line in lines[1:] if line} == set(ARMS)
    verified = _run(cli_app, "randomization", "verify", "--as", "stat", "--json")
    assert verified.exit_code == 0 and json.loads(verified.stdout)["ok"] is True


def test_generate_without_a_seed_draws_a_secret_one_and_never_prints_it(cli_app: Any, staff: dict[str, Any]) -> None:
    from iliad7.store.blinding_key import open_seed
    from iliad7.store.models import AllocationList, AuditRecord

    generated = _run(cli_app, "randomization", "generate", "--as", "stat", "--slots", "8")
    assert generated.exit_code == 0, generated.output
    seed = open_seed(AllocationList.objects.get(active=True).sealed_seed)
    assert seed >= 2**32  # 63 bits from the OS generator: not a guessable number
    assert str(seed) not in generated.output and "warning" not in generated.output
    assert all(str(seed) not in f"{r.old_value}{r.new_value}" for r in AuditRecord.objects.all())
    verified = _run(cli_app, "randomization", "verify", "--as", "stat", "--json")
    assert verified.exit_code == 0 and json.loads(verified.stdout)["ok"] is True


def test_a_small_seed_is_warned_about(cli_app: Any, staff: dict[str, Any]) -> None:
    done = _run(cli_app, "randomization", "generate", "--seed", "42", "--as", "stat", "--slots", "4")
    assert done.exit_code == 0 and "can be guessed" in done.stderr


@pytest.mark.parametrize("who", ["inv", "coord", "monitor", "bstat", "sponsor", "dsmb", "dm"])
def test_blinded_user_cannot_export_the_list_from_the_cli(
    who: str, cli_app: Any, allocation: Any, tmp_path: Path
) -> None:
    out = tmp_path / "list.csv"
    done = _run(cli_app, "randomization", "export", "--out", str(out), "--as", who)
    assert done.exit_code == 1
    assert not out.exists()


def test_blinded_user_cannot_generate_from_the_cli(cli_app: Any, staff: dict[str, Any]) -> None:
    done = _run(cli_app, "randomization", "generate", "--seed", "5", "--as", "bstat")
    assert done.exit_code == 1 and "allocation.generate" in done.stderr


def test_screening_new_save_and_log_through_the_cli(cli_app: Any, staff: dict[str, Any], tmp_path: Path) -> None:
    record = tmp_path / "record.json"
    record.write_text(json.dumps(eligible_record(sofa=None)))
    new = _run(cli_app, "screening", "new", "--site", "MSKCC", "--as", "coord", "--input", str(record), "--json")
    assert new.exit_code == 0, new.output
    created = json.loads(new.stdout)
    assert created["verdict"] == "incomplete"
    record.write_text(json.dumps(eligible_record()))
    saved = _run(
        cli_app, "screening", "save", created["screening_number"], "--as", "coord", "--input", str(record), "--json"
    )
    assert saved.exit_code == 0 and json.loads(saved.stdout)["verdict"] == "eligible"
    log = _run(cli_app, "screening", "log", "--as", "coord", "--json")
    assert json.loads(log.stdout)["MSKCC"]["eligible"] == 1


def test_screening_with_a_bad_field_exits_2_naming_it(cli_app: Any, staff: dict[str, Any], tmp_path: Path) -> None:
    from iliad7.store.models import Participant

    record = tmp_path / "record.json"
    record.write_text(json.dumps(eligible_record(weight_kg=-3)))
    done = _run(cli_app, "screening", "new", "--site", "MSKCC", "--as", "coord", "--input", str(record))
    assert done.exit_code == 2 and "weight_kg" in done.stderr
    assert Participant.objects.count() == 0  # nothing stored, not even the participant


def test_consent_then_randomize_then_unblind_through_the_cli(
    cli_app: Any, allocation: Any, staff: dict[str, Any], enrol: Any
) -> None:
    participant = enrol(consent=False)
    number = participant.screening_number
    consent = _run(
        cli_app, "consent", "record", number, "--as", "coord", "--type", "emergency-oral",
        "--given-by", "legally-authorized-representative", "--obtained-at", "2026-11-24T09:00:00-05:00",
        "--form-version", "v1.0", "--obtained-by", "Dr A",
    )  # fmt: skip
    assert consent.exit_code == 0, consent.output
    tasks = _run(cli_app, "consent", "tasks", "--as", "coord", "--json")
    assert [t["screening_number"] for t in json.loads(tasks.stdout)] == [number]
    assert _run(cli_app, "randomize", number, "--as", "inv", "--json").exit_code == 0
    no_reason = _run(cli_app, "unblind", number, "--as", "inv", "--reason", "", "--otp", "123456")
    assert no_reason.exit_code == 2 and "--reason" in no_reason.stderr
    unblinded = _run(
        cli_app, "unblind", number, "--as", "inv", "--reason", "SAE", "--otp", totp_token(staff["inv"]), "--json"
    )
    assert unblinded.exit_code == 0, unblinded.output
    assert json.loads(unblinded.stdout)["arm"] in ARMS
    events = _run(cli_app, "unblinding", "list", "--as", "sponsor", "--json")
    (event,) = json.loads(events.stdout)
    assert event["screening_number"] == number and "arm" not in event


def test_pharmacy_commands(cli_app: Any, allocation: Any, staff: dict[str, Any], enrol: Any) -> None:
    participant = enrol()
    _run(cli_app, "randomize", participant.screening_number, "--as", "inv", "--json")
    receive = _run(
        cli_app, "pharmacy", "receive", "--site", "MSKCC", "--lot", "L9", "--expiry", "2027-01-31",
        "--vials", "5", "--as", "rx",
    )  # fmt: skip
    assert receive.exit_code == 0, receive.output
    prepared = _run(
        cli_app, "pharmacy", "prepare", participant.screening_number, "--dose", "1", "--weight", "88",
        "--lot", "L9", "--concentration", "200", "--as", "rx", "--json",
    )  # fmt: skip
    assert prepared.exit_code == 0, prepared.output
    assert json.loads(prepared.stdout)["volume_ml"] == "4.40"
    report = _run(cli_app, "pharmacy", "accountability", "--site", "MSKCC", "--as", "rx", "--json")
    assert report.exit_code == 0 and json.loads(report.stdout)["reconciles"] is True
    blinded = _run(cli_app, "pharmacy", "accountability", "--site", "MSKCC", "--as", "coord", "--json")
    assert blinded.exit_code == 1


@pytest.mark.parametrize(("answer", "code"), [("n\n", 1), ("y\n", 0)])
def test_randomize_at_a_terminal_asks_for_confirmation(
    answer: str, code: int, cli_app: Any, allocation: Any, enrol: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from iliad7.cli import irt

    monkeypatch.setattr(irt, "_interactive", lambda: True)
    participant = enrol()
    done = CliRunner().invoke(cli_app, ["randomize", participant.screening_number, "--as", "inv"], input=answer)
    assert done.exit_code == code, done.output
    participant.refresh_from_db()
    assert participant.status == ("randomized" if code == 0 else "consented")
    if code:
        assert "not confirmed" in done.stderr


def test_randomize_with_confirm_flag_does_not_ask(
    cli_app: Any, allocation: Any, enrol: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from iliad7.cli import irt

    monkeypatch.setattr(irt, "_interactive", lambda: True)
    done = CliRunner().invoke(cli_app, ["randomize", enrol().screening_number, "--as", "inv", "--confirm", "--json"])
    assert done.exit_code == 0 and set(json.loads(done.stdout)) == {"usubjid", "randomization_number", "kit_code"}
