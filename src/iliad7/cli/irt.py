"""IRT commands: screening, consent, the allocation list, randomization, unblinding, pharmacy.

Every command acts as `--as USER` and is held to that user's roles and sites,
as the web pages are. Exit status: 0 done; 1 refused (a randomization that
the rules forbid, a role that does not allow it, a list that does not verify);
2 bad input, with a message naming the option. Django is imported inside the
commands, so that the pure sub-commands of `iliad7` start without it.

Confirmation of a randomization: on a terminal, `iliad7 randomize` asks the
investigator to confirm unless `--confirm` is given; run from a script (no
terminal on standard input), the explicit command, given as an investigator,
is the confirmation, so that `iliad7 randomize SN --as USER --json` works
unattended as shared/spec/interfaces.md requires.
"""

from __future__ import annotations

import json
import sys
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from iliad7.cli._common import EXIT_BAD_INPUT, EXIT_PROBLEM, database
from iliad7.cli._common import acting_user as _acting_user
from iliad7.cli._common import aware_datetime as _datetime
from iliad7.cli._common import fail as _fail
from iliad7.cli._common import participant as _participant
from iliad7.cli._common import print_json as _print_json

if TYPE_CHECKING:
    pass

# Seeds below this are few enough to try one by one, and the arms derive from the seed,
# so a guessed seed would unblind the trial.
WEAK_SEED = 1 << 32

AsUser = Annotated[str, typer.Option("--as", help="Act as this user: their roles and sites apply.")]
JsonFlag = Annotated[bool, typer.Option("--json", help="Print the machine-readable result.")]
Number = Annotated[str, typer.Argument(help="The participant's screening number.")]

_OPTION_OF_FIELD = {
    "seed": "--seed",
    "slots_per_stratum": "--slots",
    "reason": "--reason",
    "site": "--site",
    "consent_type": "--type",
    "given_by": "--given-by",
    "obtained_at": "--obtained-at",
    "form_version": "--form-version",
    "obtained_by": "--obtained-by",
    "otp_token": "--otp",
    "lot": "--lot",
    "expiry": "--expiry",
    "vials": "--vials",
    "dose_number": "--dose",
    "weight_kg": "--weight",
    "concentration_ug_per_ml": "--concentration",
    "prepared_at": "--prepared-at",
    "given_at": "--given-at",
    "injection_site": "--injection-site",
    "volume_ml": "--volume",
    "local_reaction": "--reaction",
    "password": "--password-stdin",
    "correction": "--given-at/--injection-site/--volume/--reaction",
}


def register(app: typer.Typer) -> None:
    """Add the IRT commands to the `iliad7` command."""
    randomization_app = typer.Typer(name="randomization", help="The allocation list.", no_args_is_help=True)
    randomization_app.command("generate")(randomization_generate)
    randomization_app.command("export")(randomization_export)
    randomization_app.command("verify")(randomization_verify)
    app.add_typer(randomization_app, name="randomization")
    app.command("randomize")(randomize)
    app.command("unblind")(unblind)

    screening_app = typer.Typer(name="screening", help="Screening records and the screening log.", no_args_is_help=True)
    screening_app.command("new")(screening_new)
    screening_app.command("save")(screening_save)
    screening_app.command("show")(screening_show)
    screening_app.command("fail")(screening_fail)
    screening_app.command("log")(screening_log)
    app.add_typer(screening_app, name="screening")

    consent_app = typer.Typer(name="consent", help="Informed consent and re-consent.", no_args_is_help=True)
    consent_app.command("record")(consent_record)
    consent_app.command("reconsent")(consent_reconsent)
    consent_app.command("tasks")(consent_tasks)
    app.add_typer(consent_app, name="consent")

    unblinding_app = typer.Typer(name="unblinding", help="Emergency unblinding events.", no_args_is_help=True)
    unblinding_app.command("list")(unblinding_list)
    app.add_typer(unblinding_app, name="unblinding")

    pharmacy_app = typer.Typer(name="pharmacy", help="Drug receipt, preparation, accountability.", no_args_is_help=True)
    pharmacy_app.command("receive")(pharmacy_receive)
    pharmacy_app.command("prepare")(pharmacy_prepare)
    pharmacy_app.command("waste")(pharmacy_waste)
    pharmacy_app.command("return")(pharmacy_return)
    pharmacy_app.command("accountability")(pharmacy_accountability)
    app.add_typer(pharmacy_app, name="pharmacy")

    dose_app = typer.Typer(name="dose", help="Doses given at the bedside.", no_args_is_help=True)
    dose_app.command("give")(dose_give)
    dose_app.command("correct")(dose_correct)
    app.add_typer(dose_app, name="dose")


def _option(field: str, record_input: bool) -> str:
    if record_input and field not in ("site", "reason"):
        # A screening record's own field (weight_kg, alc[0].value): it came from the --input file.
        return f"--input: {field}"
    return _OPTION_OF_FIELD.get(field, field)


def _database(*, record_input: bool = False) -> Any:
    """`record_input`: the command reads a screening record, whose fields are paths inside --input."""
    return database(lambda field: _option(field, record_input))


def _interactive() -> bool:
    """Whether a person is at a terminal (then a randomization asks to be confirmed)."""
    return sys.stdin.isatty()


def _read_json(path: Path) -> dict[str, Any]:
    try:
        value = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        _fail(EXIT_BAD_INPUT, f"error: --input: cannot read {path}: {exc.strerror}")
    except json.JSONDecodeError as exc:
        _fail(EXIT_BAD_INPUT, f"error: --input: {path} is not JSON ({exc.msg}, line {exc.lineno})")
    if not isinstance(value, dict):
        _fail(EXIT_BAD_INPUT, f"error: --input: {path} must hold one JSON object (a screening record)")
    return value


def _date(option: str, text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        _fail(EXIT_BAD_INPUT, f"error: {option}: not an ISO 8601 date: {text!r}")


def _decimal(option: str, text: str) -> Decimal:
    try:
        return Decimal(text.strip())
    except ArithmeticError:
        _fail(EXIT_BAD_INPUT, f"error: {option}: not a number: {text!r}")


# ---- the allocation list -----------------------------------------------------------------------


def randomization_generate(
    as_user: AsUser,
    seed: Annotated[
        int | None,
        typer.Option(
            "--seed",
            help="Your own secret seed, for a list you can reproduce (keep it secret; use a large one). "
            "Without it a fresh seed comes from the operating system's generator and is never shown.",
        ),
    ] = None,
    slots: Annotated[
        int | None, typer.Option("--slots", help="Slots per stratum (default: planned enrollment).")
    ] = None,
    reason: Annotated[str, typer.Option("--reason", help="Why an active list is replaced.")] = "",
) -> None:
    """Generate and store the allocation list (unblinded statistician); the seed is stored sealed, never printed."""
    with _database():
        from iliad7.store.actions import generate_allocation_list, slot_counts

        user = _acting_user(as_user)
        stored = generate_allocation_list(
            seed=seed, acting_user=user, channel="cli", slots_per_stratum=slots, reason=reason
        )
        counts = slot_counts(stored)
    if seed is not None and 0 <= seed < WEAK_SEED:
        typer.echo("warning: --seed: a small seed can be guessed, and the arms derive from it", err=True)
    per_stratum = ", ".join(f"{s}: {n}" for s, n in counts.items())
    typer.echo(f"allocation list {stored.pk} generated: {sum(counts.values())} slots ({per_stratum})")


def randomization_export(
    out: Annotated[Path, typer.Option("--out", help="CSV file to write.")],
    as_user: AsUser,
) -> None:
    """Write the allocation list as CSV (unblinded roles only; audited)."""
    with _database():
        from iliad7.store.actions import export_allocation_list

        text = export_allocation_list(acting_user=_acting_user(as_user), channel="cli")
    try:
        with out.open("w", encoding="utf-8", newline="") as handle:
            handle.write(text)
    except OSError as exc:
        _fail(EXIT_BAD_INPUT, f"error: --out: cannot write {out}: {exc.strerror}")
    typer.echo(f"allocation list written to {out} ({text.count(chr(10)) - 1} slots)")


def randomization_verify(as_user: AsUser, json_out: JsonFlag = False) -> None:
    """Re-derive the arms from the list's sealed seed and compare them with the stored list; exit 1 if they differ."""
    with _database():
        from iliad7.store.actions import allocation_list_problems

        problems = allocation_list_problems(acting_user=_acting_user(as_user), channel="cli")
    if json_out:
        _print_json({"ok": not problems, "problems": problems})
    elif problems:
        typer.echo("allocation list does NOT match its seed:\n" + "\n".join(f"  {p}" for p in problems))
    else:
        typer.echo("ok: the stored allocation list is the one its seed derives")
    if problems:
        raise typer.Exit(EXIT_PROBLEM)


def randomize(
    screening_number: Number,
    as_user: AsUser,
    json_out: JsonFlag = False,
    confirm: Annotated[bool, typer.Option("--confirm", help="Confirm without being asked.")] = False,
) -> None:
    """Randomize one participant: randomization number and kit code, never the arm; exit 1 when refused."""
    with _database():
        from iliad7.store.actions import randomize_participant

        user = _acting_user(as_user)
        participant = _participant(user, screening_number)
        from iliad7.accounts.roles import Capability
        from iliad7.store.access import can

        confirmed = confirm or not _interactive()
        # Ask only someone who may randomize here; anyone else is refused by the action, unasked.
        if not confirmed and can(user, Capability.RANDOMIZE, participant.site):
            confirmed = typer.confirm(f"Randomize participant {participant.screening_number}?", default=False, err=True)
        result = randomize_participant(participant, acting_user=user, confirmation=confirmed, channel="cli")
    if json_out:
        _print_json(result.as_dict())
    else:
        typer.echo(f"{result.usubjid}\trandomization number {result.randomization_number}\tkit {result.kit_code}")


def unblind(
    screening_number: Number,
    as_user: AsUser,
    reason: Annotated[str, typer.Option("--reason", help="Why the arm must be known now.")],
    otp: Annotated[str, typer.Option("--otp", help="The investigator's current TOTP code.")],
    json_out: JsonFlag = False,
) -> None:
    """Emergency unblinding of one participant by their site's investigator (reason and TOTP; audited)."""
    with _database():
        from iliad7.store.actions import unblind_participant

        user = _acting_user(as_user)
        participant = _participant(user, screening_number)
        arm = unblind_participant(participant, acting_user=user, reason=reason, otp_token=otp, channel="cli")
    if json_out:
        _print_json({"screening_number": participant.screening_number, "usubjid": participant.usubjid, "arm": arm})
    else:
        typer.echo(f"{participant.screening_number} ({participant.usubjid}): {arm}")


def unblinding_list(as_user: AsUser, json_out: JsonFlag = False) -> None:
    """Emergency unblindings: who, when, why, which participant (never the arm)."""
    with _database():
        from iliad7.store.actions import unblinding_events

        rows = unblinding_events(_acting_user(as_user), channel="cli")
    if json_out:
        _print_json(rows)
    else:
        for r in rows:
            typer.echo(f"{r['unblinded_at']}\t{r['screening_number']}\t{r['unblinded_by']}\t{r['reason']}")


# ---- screening -----------------------------------------------------------------------------------


def _screening_json(version: Any) -> dict[str, Any]:
    return {
        "screening_number": version.participant.screening_number,
        "version": version.version,
        "verdict": version.verdict,
        "failed": version.failed,
        "unknown": version.unknown,
        "criteria": version.criteria,
    }


def _show_screening(version: Any, json_out: bool) -> None:
    if json_out:
        _print_json(_screening_json(version))
        return
    typer.echo(f"{version.participant.screening_number} version {version.version}: {version.verdict}")
    for c in version.criteria:
        if c["status"] != "pass":
            typer.echo(f"  {c['id']}\t{c['status']}\t{c['reason']}")


def screening_new(
    site: Annotated[str, typer.Option("--site", help="Site code.")],
    as_user: AsUser,
    input_file: Annotated[Path | None, typer.Option("--input", help="Screening record (JSON).")] = None,
    json_out: JsonFlag = False,
) -> None:
    """Screen a new participant (a screening number) and optionally save their screening record."""
    data = _read_json(input_file) if input_file is not None else None
    with _database(record_input=True):
        from django.db import transaction

        from iliad7.store.actions import create_participant, save_screening

        user = _acting_user(as_user)
        # Both or neither: a bad record must not leave a participant without one.
        with transaction.atomic():
            participant = create_participant(site=site, acting_user=user, channel="cli")
            version = save_screening(participant, data, acting_user=user, channel="cli") if data is not None else None
    if version is not None:
        _show_screening(version, json_out)
    elif json_out:
        _print_json({"screening_number": participant.screening_number, "version": None, "verdict": None})
    else:
        typer.echo(participant.screening_number)


def screening_save(
    screening_number: Number,
    as_user: AsUser,
    input_file: Annotated[Path, typer.Option("--input", help="Screening record (JSON).")],
    reason: Annotated[str, typer.Option("--reason", help="Why the record changes.")] = "",
    json_out: JsonFlag = False,
) -> None:
    """Save a new version of a participant's screening record; prints the verdict."""
    data = _read_json(input_file)
    with _database(record_input=True):
        from iliad7.store.actions import save_screening

        user = _acting_user(as_user)
        version = save_screening(
            _participant(user, screening_number), data, acting_user=user, channel="cli", reason=reason
        )
    _show_screening(version, json_out)


def screening_show(screening_number: Number, as_user: AsUser, json_out: JsonFlag = False) -> None:
    """The latest screening version of a participant and its verdict."""
    with _database():
        from iliad7.store.actions import latest_screening

        user = _acting_user(as_user)
        version = latest_screening(_participant(user, screening_number))
    if version is None:
        _fail(EXIT_PROBLEM, f"error: {screening_number} has no screening record")
    _show_screening(version, json_out)


def screening_fail(
    screening_number: Number,
    as_user: AsUser,
    reason: Annotated[str, typer.Option("--reason", help="Needed unless the verdict is ineligible.")] = "",
) -> None:
    """Record a screen failure (status screen_failed)."""
    with _database():
        from iliad7.store.actions import record_screen_failure

        user = _acting_user(as_user)
        participant = record_screen_failure(
            _participant(user, screening_number), acting_user=user, channel="cli", reason=reason
        )
    typer.echo(f"{participant.screening_number}: {participant.status}")


def screening_log(
    as_user: AsUser,
    site: Annotated[str | None, typer.Option("--site", help="Only this site.")] = None,
    json_out: JsonFlag = False,
) -> None:
    """Per site: screened, eligible, ineligible (by criterion), incomplete, screen-failed, consented, randomized."""
    with _database():
        from iliad7.store.actions import screening_log as log_of

        log = log_of(_acting_user(as_user), site)
    if json_out:
        _print_json(log)
        return
    for code, counts in log.items():
        plain = ", ".join(f"{k} {v}" for k, v in counts.items() if not isinstance(v, dict))
        typer.echo(f"{code}: {plain}")
        for criterion, n in counts["ineligible_by_criterion"].items():
            typer.echo(f"  {criterion}\t{n}")


# ---- consent -------------------------------------------------------------------------------------


def consent_record(
    screening_number: Number,
    as_user: AsUser,
    consent_type: Annotated[str, typer.Option("--type", help="written or emergency_oral.")],
    given_by: Annotated[str, typer.Option("--given-by", help="participant or legally_authorized_representative.")],
    obtained_at: Annotated[str, typer.Option("--obtained-at", help="ISO 8601 date and time with offset.")],
    form_version: Annotated[str, typer.Option("--form-version", help="Consent form version.")],
    obtained_by: Annotated[str, typer.Option("--obtained-by", help="Who obtained consent.")],
) -> None:
    """Record informed consent (screened -> consented); an emergency oral one opens a re-consent task."""
    when = _datetime("--obtained-at", obtained_at)
    with _database():
        from iliad7.store.actions import record_consent

        user = _acting_user(as_user)
        participant = _participant(user, screening_number)
        record_consent(
            participant,
            consent_type=consent_type.replace("-", "_"),
            given_by=given_by.replace("-", "_"),
            obtained_at=when,
            form_version=form_version,
            obtained_by=obtained_by,
            acting_user=user,
            channel="cli",
        )
    typer.echo(f"{participant.screening_number}: consented ({consent_type})")


def consent_reconsent(
    screening_number: Number,
    as_user: AsUser,
    obtained_at: Annotated[str, typer.Option("--obtained-at", help="ISO 8601 date and time with offset.")],
    form_version: Annotated[str, typer.Option("--form-version", help="Consent form version.")],
    obtained_by: Annotated[str, typer.Option("--obtained-by", help="Who obtained the re-consent.")],
    given_by: Annotated[str, typer.Option("--given-by")] = "participant",
) -> None:
    """Record the written re-consent that closes an open re-consent task."""
    when = _datetime("--obtained-at", obtained_at)
    with _database():
        from iliad7.store.actions import complete_reconsent

        user = _acting_user(as_user)
        complete_reconsent(
            _participant(user, screening_number),
            obtained_at=when,
            form_version=form_version,
            obtained_by=obtained_by,
            given_by=given_by.replace("-", "_"),
            acting_user=user,
            channel="cli",
        )
    typer.echo(f"{screening_number}: re-consent recorded")


def consent_tasks(as_user: AsUser, json_out: JsonFlag = False) -> None:
    """Open re-consent tasks of the participants the user may see."""
    with _database():
        from iliad7.store.actions import open_reconsent_tasks

        rows = [
            {
                "screening_number": t.participant.screening_number,
                "site": t.participant.site.code,
                "opened_at": t.opened_at.isoformat(),
                "emergency_consent_given_by": t.opened_by_consent.given_by,
            }
            for t in open_reconsent_tasks(_acting_user(as_user))
        ]
    if json_out:
        _print_json(rows)
    else:
        for r in rows:
            typer.echo(f"{r['screening_number']}\t{r['site']}\topen since {r['opened_at']}")


# ---- pharmacy ------------------------------------------------------------------------------------


def pharmacy_receive(
    site: Annotated[str, typer.Option("--site")],
    lot: Annotated[str, typer.Option("--lot")],
    expiry: Annotated[str, typer.Option("--expiry", help="ISO date.")],
    vials: Annotated[int, typer.Option("--vials")],
    as_user: AsUser,
) -> None:
    """Record vials of a lot received at the site pharmacy."""
    expires = _date("--expiry", expiry)
    with _database():
        from iliad7.store.actions import record_drug_receipt

        record_drug_receipt(
            site_code=site, lot=lot, expiry=expires, vials=vials, acting_user=_acting_user(as_user), channel="cli"
        )
    typer.echo(f"received {vials} vial(s) of lot {lot} at {site.upper()}")


def pharmacy_prepare(
    screening_number: Number,
    dose: Annotated[int, typer.Option("--dose", help="Dose number, 1-7.")],
    weight: Annotated[str, typer.Option("--weight", help="Baseline actual body weight, kg.")],
    lot: Annotated[str, typer.Option("--lot")],
    as_user: AsUser,
    concentration: Annotated[
        str,
        typer.Option(
            "--concentration",
            envvar="ILIAD7_CONCENTRATION_UG_PER_ML",
            help="The drug product's concentration, ug/mL (configured; no default).",
        ),
    ],
    prepared_at: Annotated[str | None, typer.Option("--prepared-at")] = None,
    json_out: JsonFlag = False,
) -> None:
    """Prepare one dose's syringe (unblinded pharmacist): the worksheet line, with the contents."""
    when = _datetime("--prepared-at", prepared_at) if prepared_at else None
    weight_kg, conc = _decimal("--weight", weight), _decimal("--concentration", concentration)
    with _database():
        from iliad7.store.actions import prepare_dose

        user = _acting_user(as_user)
        p = prepare_dose(
            _participant(user, screening_number),
            dose,
            weight_kg=weight_kg,
            concentration_ug_per_ml=conc,
            lot=lot,
            acting_user=user,
            channel="cli",
            prepared_at=when,
        )
    row = {
        "label": p.label,
        "dose_number": p.dose_number,
        "weight_kg": str(p.weight_kg),
        "dose_ug": p.dose_ug,
        "volume_ml": str(p.volume_ml),
        "contents": p.contents,
        "lot": lot,
    }
    if json_out:
        _print_json(row)
    else:
        typer.echo(f"syringe {p.label}: {p.volume_ml} mL ({p.contents}), lot {lot}")


def pharmacy_waste(
    site: Annotated[str, typer.Option("--site")],
    lot: Annotated[str, typer.Option("--lot")],
    vials: Annotated[int, typer.Option("--vials")],
    reason: Annotated[str, typer.Option("--reason")],
    as_user: AsUser,
) -> None:
    """Record wasted vials (with the reason)."""
    with _database():
        from iliad7.store.actions import record_wastage

        record_wastage(
            site_code=site, lot=lot, vials=vials, reason=reason, acting_user=_acting_user(as_user), channel="cli"
        )
    typer.echo(f"{vials} vial(s) of lot {lot} recorded as wasted")


def pharmacy_return(
    site: Annotated[str, typer.Option("--site")],
    lot: Annotated[str, typer.Option("--lot")],
    vials: Annotated[int, typer.Option("--vials")],
    as_user: AsUser,
    reason: Annotated[str, typer.Option("--reason")] = "",
) -> None:
    """Record vials returned to the sponsor or depot."""
    with _database():
        from iliad7.store.actions import record_return

        record_return(
            site_code=site, lot=lot, vials=vials, reason=reason, acting_user=_acting_user(as_user), channel="cli"
        )
    typer.echo(f"{vials} vial(s) of lot {lot} recorded as returned")


def pharmacy_accountability(
    site: Annotated[str, typer.Option("--site")], as_user: AsUser, json_out: JsonFlag = False
) -> None:
    """Per lot: received, dispensed, wasted, returned, on hand; exit 1 if it does not reconcile."""
    with _database():
        from iliad7.store.actions import drug_accountability

        report = drug_accountability(site_code=site, acting_user=_acting_user(as_user))
    if json_out:
        _print_json(report)
    else:
        for r in report["lots"]:
            typer.echo(
                f"{r['lot']} (exp {r['expiry']}): received {r['received']}, dispensed {r['dispensed']}, "
                f"wasted {r['wasted']}, returned {r['returned']}, on hand {r['on_hand']}"
                + ("" if r["reconciles"] else "  DOES NOT RECONCILE")
            )
    if not report["reconciles"]:
        raise typer.Exit(EXIT_PROBLEM)


def dose_give(
    screening_number: Number,
    dose: Annotated[int, typer.Option("--dose", help="Dose number, 1-7.")],
    given_at: Annotated[str, typer.Option("--given-at", help="ISO 8601 date and time with offset.")],
    injection_site: Annotated[str, typer.Option("--injection-site")],
    volume: Annotated[str, typer.Option("--volume", help="mL injected.")],
    as_user: AsUser,
    reaction: Annotated[str, typer.Option("--reaction", help="Local reaction, or none.")] = "none",
    discharge_date: Annotated[str | None, typer.Option("--discharge-date")] = None,
) -> None:
    """Record a dose given (site staff); refused with the reason outside the protocol's rules."""
    at = _datetime("--given-at", given_at)
    discharge = _date("--discharge-date", discharge_date) if discharge_date else None
    volume_ml = _decimal("--volume", volume)
    with _database():
        from iliad7.store.actions import record_dose_given

        user = _acting_user(as_user)
        record_dose_given(
            _participant(user, screening_number),
            dose,
            given_at=at,
            injection_site=injection_site,
            volume_ml=volume_ml,
            local_reaction=reaction,
            acting_user=user,
            channel="cli",
            discharge_date=discharge,
        )
    typer.echo(f"{screening_number}: dose {dose} recorded")


def dose_correct(
    screening_number: Number,
    dose: Annotated[int, typer.Option("--dose", help="Dose number, 1-7.")],
    reason: Annotated[str, typer.Option("--reason", help="Why the dose record is corrected (audited).")],
    as_user: AsUser,
    otp: Annotated[str, typer.Option("--otp", help="The investigator's current TOTP code (the signature).")],
    password_stdin: Annotated[
        bool, typer.Option("--password-stdin", help="Read the password from standard input (the signature).")
    ] = False,
    given_at: Annotated[str | None, typer.Option("--given-at", help="Corrected time (ISO 8601 with offset).")] = None,
    injection_site: Annotated[str | None, typer.Option("--injection-site")] = None,
    volume: Annotated[str | None, typer.Option("--volume", help="Corrected mL injected.")] = None,
    reaction: Annotated[str | None, typer.Option("--reaction", help="Corrected local reaction.")] = None,
    discharge_date: Annotated[str | None, typer.Option("--discharge-date")] = None,
) -> None:
    """Correct a dose given: a new version, signed by the investigator (password and second factor), with a reason."""
    if not password_stdin:
        _fail(EXIT_BAD_INPUT, "error: --password-stdin: give the password on standard input")
    at = _datetime("--given-at", given_at) if given_at else None
    discharge = _date("--discharge-date", discharge_date) if discharge_date else None
    volume_ml = _decimal("--volume", volume) if volume else None
    password = sys.stdin.read().rstrip("\r\n")
    with _database():
        from iliad7.store.actions import correct_dose

        user = _acting_user(as_user)
        correction = correct_dose(
            _participant(user, screening_number), dose, reason=reason, password=password, otp_token=otp,
            acting_user=user, channel="cli", given_at=at, injection_site=injection_site, volume_ml=volume_ml,
            local_reaction=reaction, discharge_date=discharge,
        )  # fmt: skip
    typer.echo(f"{screening_number}: dose {dose} corrected (version {correction.version}, signed)")
