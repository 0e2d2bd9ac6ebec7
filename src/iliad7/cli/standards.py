"""`iliad7 export sdtm|adam|csv|odm` and `iliad7 import odm|fhir`: the CDISC and HL7 interchange commands.

Every command acts as `--as USER` and is held to that user's sites and
blinding (a blinded user's SDTM has no arm; see docs/standards.md). Exit 0
done, 1 refused or the data failed a check, 2 bad input. The lead registers
this module in `iliad7.cli` with `standards.register(app)`.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any, Literal

import typer

from iliad7.cli._common import EXIT_BAD_INPUT, EXIT_PROBLEM
from iliad7.cli._common import acting_user as _acting_user
from iliad7.cli._common import fail as _fail
from iliad7.cli.store import _database  # names fields as the account commands do (--password-stdin, ...)

AsUser = Annotated[str, typer.Option("--as", help="Act as this user: their roles and sites apply.")]
JsonFlag = Annotated[bool, typer.Option("--json", help="Print the machine-readable result.")]


def register(app: typer.Typer) -> None:
    """Add `export` and `import` command groups to the `iliad7` command."""
    export_app = typer.Typer(name="export", help="CDISC SDTM, ADaM, ODM and analyst files.", no_args_is_help=True)
    export_app.command("sdtm")(export_sdtm)
    export_app.command("adam")(export_adam)
    export_app.command("csv")(export_csv)
    export_app.command("odm")(export_odm)
    app.add_typer(export_app, name="export")
    import_app = typer.Typer(name="import", help="ODM clinical data and FHIR resources.", no_args_is_help=True)
    import_app.command("odm")(import_odm)
    import_app.command("fhir")(import_fhir)
    import_app.command("fhir-confirm")(confirm_fhir)
    app.add_typer(import_app, name="import")


def _report(result: dict[str, Any], json_out: bool, summary: str) -> None:
    if json_out:
        typer.echo(json.dumps(result, ensure_ascii=False, indent=2))
    else:
        typer.echo(summary)


def export_sdtm(
    out: Annotated[Path, typer.Argument(help="Folder for dm.xpt, dm.json, ..., define.xml.")],
    as_user: AsUser,
    json_out: JsonFlag = False,
) -> None:
    """SDTM datasets as SAS XPORT v5 and Dataset-JSON 1.1 with define.xml 2.1 (checked before writing)."""
    with _database():
        from iliad7.standards.exports import export_sdtm as run

        result = run(_acting_user(as_user), out)
        _report(result.as_dict(), json_out, f"{len(result.datasets)} SDTM datasets written to {out}")


def export_adam(
    out: Annotated[Path, typer.Argument(help="Folder for adsl.xpt, adsl.json, ..., define.xml.")],
    as_user: AsUser,
    json_out: JsonFlag = False,
) -> None:
    """ADaM datasets (ADSL, ADLB, ADTTE) as SAS XPORT v5 and Dataset-JSON 1.1 with define.xml 2.1."""
    with _database():
        from iliad7.standards.exports import export_adam as run

        result = run(_acting_user(as_user), out)
        _report(result.as_dict(), json_out, f"{len(result.datasets)} ADaM datasets written to {out}")


def export_csv(
    out: Annotated[Path, typer.Argument(help="Folder for one file per dataset.")],
    as_user: AsUser,
    fmt: Annotated[str, typer.Option("--format", help="csv or parquet.")] = "csv",
    which: Annotated[str, typer.Option("--datasets", help="adam or sdtm.")] = "adam",
    json_out: JsonFlag = False,
) -> None:
    """Analyst files: the ADaM (or SDTM) datasets as CSV or Parquet, blinded or not by the user's role."""
    if fmt not in ("csv", "parquet"):
        _fail(EXIT_BAD_INPUT, "error: --format: csv or parquet")
    if which not in ("adam", "sdtm"):
        _fail(EXIT_BAD_INPUT, "error: --datasets: adam or sdtm")
    with _database():
        from iliad7.standards.exports import export_tables

        chosen_fmt: Literal["csv", "parquet"] = "csv" if fmt == "csv" else "parquet"
        chosen: Literal["adam", "sdtm"] = "adam" if which == "adam" else "sdtm"
        result = export_tables(_acting_user(as_user), out, fmt=chosen_fmt, which=chosen)
        _report(result.as_dict(), json_out, f"{len(result.files)} {fmt} files written to {out}")


def export_odm(
    out: Annotated[Path, typer.Argument(help="The ODM 1.3.2 XML file to write.")],
    as_user: AsUser,
    json_out: JsonFlag = False,
) -> None:
    """Study metadata and clinical data with audit records as ODM 1.3.2, validated against the XSD."""
    with _database():
        from iliad7.standards.odm import export_odm as run

        result = run(_acting_user(as_user), out)
        if result["schema_errors"]:
            _fail(EXIT_PROBLEM, f"error: the ODM document fails the ODM 1.3.2 schema: {result['schema_errors'][0]}")
        _report(result, json_out, f"ODM 1.3.2 written to {out} ({result['values']} item values)")


def import_odm(
    source: Annotated[Path, typer.Argument(help="An ODM 1.3.2 file with ClinicalData.")],
    as_user: AsUser,
    json_out: JsonFlag = False,
) -> None:
    """ODM clinical data as new item value versions authored by the importing user (never silent overwrites)."""
    if not source.is_file():
        _fail(EXIT_BAD_INPUT, f"error: FILE: {source} is not a file")
    with _database():
        from iliad7.standards.odm import import_odm as run

        result = run(_acting_user(as_user), source)
        _report(result, json_out, f"{result['recorded']} values recorded, {result['unchanged']} unchanged")


def import_fhir(
    source: Annotated[Path, typer.Argument(help="A FHIR R4 Bundle (JSON) or a Bulk Data NDJSON folder.")],
    screening_number: Annotated[str, typer.Option("--participant", help="The participant to pre-fill.")],
    as_user: AsUser,
    json_out: JsonFlag = False,
) -> None:
    """Pre-fill a participant's LAB values from FHIR resources (pending the coordinator's confirmation)."""
    if not source.exists():
        _fail(EXIT_BAD_INPUT, f"error: SOURCE: {source} does not exist")
    with _database():
        from iliad7.standards.fhir import import_fhir as run

        result = run(_acting_user(as_user), source, screening_number)
        _report(result, json_out, f"{len(result['prefilled'])} values pre-filled, {len(result['unknown'])} reported")


def confirm_fhir(
    proposal: Annotated[Path, typer.Argument(help="The proposal file `iliad7 import fhir` wrote.")],
    visit: Annotated[str, typer.Option("--visit", help="The LAB visit the values belong to (e.g. SCREENING).")],
    as_user: AsUser,
    json_out: JsonFlag = False,
) -> None:
    """The coordinator's confirmation of a FHIR pre-fill: record its values, each naming its source resource."""
    if not proposal.is_file():
        _fail(EXIT_BAD_INPUT, f"error: PROPOSAL: {proposal} is not a file")
    with _database():
        from iliad7.standards.fhir import confirm_prefill

        result = confirm_prefill(_acting_user(as_user), json.loads(proposal.read_text()), visit=visit)
        _report(result, json_out, f"{len(result['recorded'])} values recorded for {result['participant']}")
