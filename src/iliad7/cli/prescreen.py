"""`iliad7 prescreen` and `iliad7 omop synth`: the trial's eligibility rules over a hospital's OMOP population.

`prescreen` reads an OMOP CDM v5.4 source on DuckDB, PostgreSQL or Spark, builds every person's
screening record at T0 (`--as-of`) and judges it with the rules of `iliad7 screen`: JSON Lines,
one per person in `person_id` order (docs/prescreen.md). Output is written whole or not at all
(to a temporary file first), so bad input (exit 2, naming table, column and row) leaves nothing
half written. `--load --as USER` then puts the candidates (no failed criterion) on the site's
worklist in the trial database. `omop synth` writes a synthetic population to try it on.
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

EXIT_BAD_INPUT = 2


class EngineName(StrEnum):
    duckdb = "duckdb"
    spark = "spark"
    postgresql = "postgresql"


def register(app: typer.Typer) -> None:
    app.command("prescreen")(prescreen)
    omop_app = typer.Typer(name="omop", help="OMOP CDM sources: a synthetic population to try the pre-screening on.")
    omop_app.command("synth")(synth)
    app.add_typer(omop_app, name="omop")


def _fail(message: str) -> typer.Exit:
    typer.echo(f"error: {message}", err=True)
    return typer.Exit(EXIT_BAD_INPUT)


def prescreen(
    omop: Annotated[
        str, typer.Option("--omop", help="A folder of OMOP tables, or postgresql://... / duckdb:///file.db")
    ],
    as_of: Annotated[str, typer.Option("--as-of", help="T0, ISO 8601 with its UTC offset.")],
    engine: Annotated[
        EngineName | None,
        typer.Option("--engine", help="duckdb (default), spark, or postgresql (default for a postgresql:// source)."),
    ] = None,
    out: Annotated[Path | None, typer.Option("--out", help="JSON Lines file (default: standard output).")] = None,
    records: Annotated[
        Path | None, typer.Option("--records", help="Also write each person's screening record (a JSON array).")
    ] = None,
    site: Annotated[str | None, typer.Option("--site", help="The trial site whose hospital this source is.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="The run's summary as JSON.")] = False,
    jobs: Annotated[int, typer.Option("--jobs", "-j", min=1, help="Processes that build and judge.")] = (
        os.cpu_count() or 1
    ),
    load: Annotated[
        bool, typer.Option("--load", help="Put the candidates on the site's worklist (needs --site and --as).")
    ] = False,
    as_user: Annotated[str | None, typer.Option("--as", help="The user loading the worklist (audited).")] = None,
) -> None:
    """Pre-screen every person of an OMOP CDM source against the eligibility criteria at T0."""
    from iliad7.prescreen.run import parse_as_of, run
    from iliad7.prescreen.source import OmopInputError, default_engine
    from iliad7.protocol import load_protocol

    try:
        t0 = parse_as_of(as_of)
    except OmopInputError as exc:
        raise _fail(str(exc)) from None
    if site is not None:
        codes = [s.code for s in load_protocol().sites]
        site = site.strip().upper()
        if site not in codes:
            raise _fail(f"--site: unknown site {site!r} (sites: {', '.join(codes)})")
    if load and (site is None or as_user is None):
        raise _fail("--load: give the site (--site) and the user loading the worklist (--as)")
    chosen = engine.value if engine is not None else default_engine(omop)
    targets = [p for p in (out, records) if p is not None]
    for path in targets:
        if not path.parent.is_dir():
            raise _fail(f"{'--out' if path == out else '--records'}: no folder {path.parent}")
    folder = tempfile.mkdtemp(prefix="iliad7-prescreen-", dir=(out.parent if out is not None else None))
    try:
        out_tmp, records_tmp = Path(folder) / "out.jsonl", Path(folder) / "records.json"
        with out_tmp.open("wb") as out_file, records_tmp.open("wb") if records else open(os.devnull, "wb") as rec:
            try:
                summary, candidates = run(
                    omop,
                    t0,
                    engine=chosen,
                    out=out_file,
                    records=rec if records else None,  # type: ignore[arg-type]
                    jobs=jobs,
                    progress=sys.stderr.isatty(),
                    keep_candidates=load,
                )
            except OmopInputError as exc:
                raise _fail(str(exc)) from None
            except (OSError, RuntimeError) as exc:
                raise _fail(f"--omop: {omop}: {exc}") from None
        if records is not None:
            shutil.move(records_tmp, records)
        if out is not None:
            shutil.move(out_tmp, out)
        else:
            with out_tmp.open("rb") as done:
                shutil.copyfileobj(done, sys.stdout.buffer, 1 << 24)
            sys.stdout.buffer.flush()
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    if load:
        assert site is not None and as_user is not None
        summary.notes.append(_load(summary, candidates, site, as_user))
    _report(summary, as_json=as_json, to_stderr=out is None)


def _load(summary: object, candidates: list[object], site: str, username: str) -> str:
    from iliad7.cli._common import acting_user, database

    with database(lambda field: f"--{field}"):
        from iliad7.store.actions.prescreen import load_prescreen_run

        user = acting_user(username)
        loaded = load_prescreen_run(summary, candidates, site=site, acting_user=user, channel="cli")  # type: ignore[arg-type]
        return f"worklist: run {loaded.pk} loaded for {site}, {loaded.candidate_count} candidates"
    raise AssertionError("unreachable")  # pragma: no cover


def _report(summary: object, *, as_json: bool, to_stderr: bool) -> None:
    from iliad7.prescreen.run import Summary

    assert isinstance(summary, Summary)
    if as_json:
        import json

        typer.echo(json.dumps(summary.as_dict(), indent=2), err=to_stderr)
        return
    verdicts = ", ".join(f"{v} {n:,}" for v, n in summary.verdicts.items())
    lines = [
        f"prescreen: {summary.persons:,} persons of {summary.source} at {summary.as_of} on {summary.engine}: "
        + verdicts,
        f"candidates (no failed criterion): {summary.candidates:,}",
        f"time {summary.seconds:.1f} s (tables {summary.extract_seconds:.1f} s), "
        f"peak memory {summary.peak_memory_mb:,.0f} MB",
        *summary.notes,
    ]
    for line in lines:
        typer.echo(line, err=to_stderr)


def synth(
    patients: Annotated[int, typer.Option("--patients", min=1, help="Persons to synthesize.")],
    seed: Annotated[int, typer.Option("--seed", help="The same seed gives the same population.")],
    out: Annotated[Path, typer.Option("--out", help="The folder to write the OMOP tables to (Parquet).")],
) -> None:
    """Write a synthetic cancer-centre population as OMOP CDM v5.4 Parquet tables (not clinical data)."""
    from iliad7.prescreen.synth import as_of, synthesize

    if out.exists() and not out.is_dir():
        raise _fail(f"--out: {out} is a file, not a folder")
    summary = synthesize(patients, seed, out)
    rows = sum(summary.rows.values())
    typer.echo(f"wrote {patients:,} synthetic persons ({rows:,} rows in {len(summary.rows)} tables) to {out}")
    typer.echo(f"extracted at {as_of(summary)}: iliad7 prescreen --omop {out} --as-of {as_of(summary)}")
