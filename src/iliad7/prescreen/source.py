"""Open an OMOP CDM v5.4 source on an engine and check its tables against what the rules read.

A source is a folder of tables (``person.parquet``, ``measurement.csv``, or a folder of Parquet
parts per table) or a database URL (``postgresql://...``, ``duckdb:///path.db``). The engine is
DuckDB (embedded), PostgreSQL (inside the database the URL names) or Apache Spark (a local session,
or a cluster through the usual Spark settings). Every table comes back through ibis with the
columns the rules read, each in one type whatever the engine (ids as 64-bit integers, values as
doubles, dates, UTC timestamps without offset), so the plans of `iliad7.prescreen.features` compile
to every engine unchanged. A missing table or column the rules need, or a column whose values are
not of its type, is an :class:`OmopInputError` naming table, column and row.
"""

from __future__ import annotations

import os
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal
from urllib.parse import parse_qs, urlsplit, urlunsplit

Engine = Literal["duckdb", "postgresql", "spark"]
ENGINES: tuple[Engine, ...] = ("duckdb", "postgresql", "spark")
Kind = Literal["int", "number", "date", "datetime", "text"]


class OmopInputError(ValueError):
    """Bad input, named: the table, the column (if one) and the row (its id), and what is wrong."""

    def __init__(self, table: str, message: str, *, column: str | None = None, row: str | None = None) -> None:
        where = table + (f".{column}" if column else "") + (f" (row {row})" if row else "")
        super().__init__(f"{where}: {message}")
        self.table, self.column, self.row, self.message = table, column, row, message


# The columns each table must have (True) or may leave out (False: read as empty), with their kind.
TABLES: dict[str, dict[str, tuple[Kind, bool]]] = {
    "person": {
        "person_id": ("int", True),
        "gender_concept_id": ("int", True),
        "year_of_birth": ("int", True),
        "month_of_birth": ("int", False),
        "day_of_birth": ("int", False),
        "birth_datetime": ("datetime", False),
    },
    "concept": {"concept_id": ("int", True), "vocabulary_id": ("text", True), "concept_code": ("text", True)},
    "concept_ancestor": {"ancestor_concept_id": ("int", True), "descendant_concept_id": ("int", True)},
    "visit_occurrence": {
        "visit_occurrence_id": ("int", True),
        "person_id": ("int", True),
        "visit_concept_id": ("int", True),
        "visit_start_date": ("date", True),
        "visit_start_datetime": ("datetime", False),
        "visit_end_date": ("date", False),
        "visit_end_datetime": ("datetime", False),
    },
    "measurement": {
        "measurement_id": ("int", True),
        "person_id": ("int", True),
        "measurement_concept_id": ("int", True),
        "measurement_date": ("date", True),
        "measurement_datetime": ("datetime", False),
        "value_as_number": ("number", True),
        "value_as_concept_id": ("int", True),
        "unit_concept_id": ("int", True),
        "range_high": ("number", True),
    },
    "condition_occurrence": {
        "condition_occurrence_id": ("int", True),
        "person_id": ("int", True),
        "condition_concept_id": ("int", True),
        "condition_start_date": ("date", True),
        "condition_start_datetime": ("datetime", False),
    },
    "procedure_occurrence": {
        "procedure_occurrence_id": ("int", True),
        "person_id": ("int", True),
        "procedure_concept_id": ("int", True),
        "procedure_date": ("date", True),
        "procedure_datetime": ("datetime", False),
        "procedure_end_date": ("date", False),
        "procedure_end_datetime": ("datetime", False),
    },
    "device_exposure": {
        "device_exposure_id": ("int", True),
        "person_id": ("int", True),
        "device_concept_id": ("int", True),
        "device_exposure_start_date": ("date", True),
        "device_exposure_start_datetime": ("datetime", False),
        "device_exposure_end_date": ("date", False),
        "device_exposure_end_datetime": ("datetime", False),
    },
    "drug_exposure": {
        "drug_exposure_id": ("int", True),
        "person_id": ("int", True),
        "drug_concept_id": ("int", True),
        "drug_exposure_start_date": ("date", True),
        "drug_exposure_start_datetime": ("datetime", False),
        "drug_exposure_end_date": ("date", False),
        "drug_exposure_end_datetime": ("datetime", False),
    },
    "observation": {
        "observation_id": ("int", True),
        "person_id": ("int", True),
        "observation_concept_id": ("int", True),
        "observation_date": ("date", True),
        "observation_datetime": ("datetime", False),
    },
}
# The tables the rules cannot do without; the others leave the fields they feed missing when absent.
REQUIRED_TABLES = ("person", "concept", "visit_occurrence", "measurement", "condition_occurrence")
ROW_ID = {
    "person": "person_id",
    "concept": "concept_id",
    "concept_ancestor": "descendant_concept_id",
    "visit_occurrence": "visit_occurrence_id",
    "measurement": "measurement_id",
    "condition_occurrence": "condition_occurrence_id",
    "procedure_occurrence": "procedure_occurrence_id",
    "device_exposure": "device_exposure_id",
    "drug_exposure": "drug_exposure_id",
    "observation": "observation_id",
}
KIND_TEXT = {"int": "an integer", "number": "a number", "date": "a date", "datetime": "a date and time", "text": "text"}
SPARK_CONF = {
    "spark.sql.session.timeZone": "UTC",
    "spark.sql.shuffle.partitions": "4",
    "spark.ui.enabled": "false",
    "spark.ui.showConsoleProgress": "false",
    "spark.driver.memory": os.environ.get("ILIAD7_SPARK_DRIVER_MEMORY", "4g"),  # results come back to the driver
    # iliad7 writes no table: keep Spark's empty warehouse folder out of the working directory
    "spark.sql.warehouse.dir": os.path.join(tempfile.gettempdir(), "iliad7-spark-warehouse"),
    "spark.sql.ansi.enabled": "false",  # try_cast finds the bad row; the plans never rely on ANSI errors
}


@dataclass
class Source:
    """The engine's connection and the checked tables (absent optional tables are left out)."""

    engine: Engine
    con: Any
    tables: dict[str, Any]
    description: str
    notes: list[str] = field(default_factory=list)


def default_engine(source: str) -> Engine:
    """DuckDB, except for a PostgreSQL URL (DuckDB cannot reach a server from this closed network)."""
    return "postgresql" if source.startswith(("postgresql://", "postgres://")) else "duckdb"


@contextmanager
def open_source(source: str, engine: Engine) -> Iterator[Source]:
    """Connect, register and check the OMOP tables of `source` on `engine`."""
    import ibis

    is_url = "://" in source
    if engine == "postgresql":
        if not source.startswith(("postgresql://", "postgres://")):
            raise OmopInputError("--omop", "the postgresql engine runs inside a database: give a postgresql:// URL")
        url, schema = _without_schema(source)
        try:
            con = ibis.postgres.connect(**_connection_args(url))
        except OmopInputError:
            raise
        except Exception as exc:  # psycopg.OperationalError: name the source, not the password
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise OmopInputError("--omop", f"cannot connect to PostgreSQL: {first}") from None
        con.raw_sql("SET TIME ZONE 'UTC'")
        names = set(con.list_tables(database=schema) if schema else con.list_tables())
        raw = {
            name: con.table(name, database=schema) if schema else con.table(name) for name in TABLES if name in names
        }
        description = f"PostgreSQL {urlsplit(url).path.lstrip('/') or 'database'}" + (
            f", schema {schema}" if schema else ""
        )
    elif engine == "duckdb":
        if source.startswith("duckdb://"):
            path = source.removeprefix("duckdb://")  # duckdb:///abs.db is /abs.db
            con = ibis.duckdb.connect(path, read_only=True)
            names = set(con.list_tables())
            raw = {name: con.table(name) for name in TABLES if name in names}
            description = f"DuckDB database {path}"
        elif is_url:
            raise OmopInputError("--omop", f"the duckdb engine reads a folder or a duckdb:/// file, not {source}")
        else:
            con = ibis.duckdb.connect()
            raw = _read_folder(con, Path(source), "duckdb")
            description = f"folder {source}"
        con.raw_sql("SET TimeZone = 'UTC'")
    else:
        if is_url:
            raise OmopInputError("--omop", "the spark engine reads a folder of tables, or spark:DATABASE")
        con = ibis.pyspark.connect(spark_session())
        if source.startswith("spark:"):
            # The cluster's own catalog (Hive metastore, Unity Catalog...): `spark:cdm` is database cdm,
            # `spark:` the session's current database (and its temporary views).
            database = source.removeprefix("spark:") or None
            names = set(con.list_tables(database=database) if database else con.list_tables())
            raw = {n: con.table(n, database=database) if database else con.table(n) for n in TABLES if n in names}
            description = f"Spark catalog {database or 'current database'} (Spark {con._session.version})"
        else:
            raw = _read_folder(con, Path(source), "spark")
            description = f"folder {source} (Spark {con._session.version})"
    try:
        missing = [name for name in REQUIRED_TABLES if name not in raw]
        if missing:
            raise OmopInputError(missing[0], f"table missing (the rules need {', '.join(REQUIRED_TABLES)})")
        tables = {name: _checked(name, table) for name, table in raw.items()}
        notes = [f"table {name} absent: the fields it feeds are missing" for name in TABLES if name not in raw]
        yield Source(engine, con, tables, description, notes)
    finally:
        if engine != "spark":  # the Spark session is the process's, reused by later runs
            con.disconnect()


def _without_schema(url: str) -> tuple[str, str | None]:
    """Split an optional `?schema=cdm` (where the OMOP tables are) from a PostgreSQL URL."""
    parts = urlsplit(url)
    query = parse_qs(parts.query)
    schema = query.pop("schema", [None])[0]
    rest = "&".join(f"{k}={v}" for k, values in query.items() for v in values)
    return urlunsplit(parts._replace(query=rest)), schema


def _connection_args(url: str) -> dict[str, Any]:
    from psycopg.conninfo import conninfo_to_dict

    try:
        args: dict[str, Any] = dict(conninfo_to_dict(url))
    except Exception as exc:  # psycopg.ProgrammingError: name the option, never echo a password
        raise OmopInputError("--omop", f"not a PostgreSQL URL: {exc}") from None
    if "dbname" in args:
        args["database"] = args.pop("dbname")
    return args


def _read_folder(con: Any, folder: Path, engine: Engine) -> dict[str, Any]:
    if not folder.is_dir():
        raise OmopInputError("--omop", f"{folder} is not a folder of OMOP tables (nor a database URL)")
    found: dict[str, Any] = {}
    for name in TABLES:
        parquet, csv, parts = folder / f"{name}.parquet", folder / f"{name}.csv", folder / name
        if parquet.is_file():
            found[name] = con.read_parquet(str(parquet), table_name=f"omop_{name}")
        elif parts.is_dir() and any(parts.glob("*.parquet")):
            found[name] = con.read_parquet(str(parts), table_name=f"omop_{name}")
        elif csv.is_file():
            if engine == "spark":
                found[name] = con.read_csv(str(csv), table_name=f"omop_{name}", header=True, inferSchema=True)
            else:
                found[name] = con.read_csv(str(csv), table_name=f"omop_{name}")
    return found


def _checked(name: str, table: Any) -> Any:
    """The table's rule columns, each cast to its kind; a wrong column names its first bad row."""
    import ibis
    import ibis.expr.datatypes as dt

    schema = table.schema()
    columns = {c.lower(): c for c in schema.names}
    out = {}
    row_id = columns.get(ROW_ID[name])
    for column, (kind, required) in TABLES[name].items():
        original = columns.get(column)
        target = {"int": dt.int64, "number": dt.float64, "date": dt.date, "datetime": dt.timestamp, "text": dt.string}[
            kind
        ]
        if original is None:
            if required:
                raise OmopInputError(name, "column missing (the rules read it)", column=column)
            out[column] = ibis.null(target)
            continue
        col = table[original]
        typ = schema[original]
        if kind == "text" or typ == target:
            out[column] = col.cast(target)
        elif typ.is_null():
            out[column] = ibis.null(target)
        elif (
            (kind == "int" and (typ.is_integer() or (typ.is_decimal() and typ.scale == 0)))
            or (kind == "number" and typ.is_numeric() and not typ.is_boolean())
            or (kind == "date" and typ.is_timestamp())
            or (kind == "datetime" and typ.is_timestamp())
        ):
            out[column] = col.cast(target)
        elif typ.is_string():
            out[column] = _text_as(name, table, row_id, original, column, kind, target)
        else:
            raise OmopInputError(name, f"values of type {typ} where {KIND_TEXT[kind]} is expected", column=column)
    return table.select(**out)


def _text_as(name: str, table: Any, row_id: str | None, original: str, column: str, kind: Kind, target: Any) -> Any:
    """A text column read as its kind, if every value is one; else the first row that is not."""
    col = table[original]
    blank = col.strip() == ""
    converted = ibis_null_if(col, blank).try_cast(target)
    bad = table.filter(col.notnull() & ~blank & converted.isnull())
    keys = [bad[row_id]] if row_id else []
    first = bad.select(*keys, value=col).order_by(keys or ["value"]).limit(1).to_pyarrow().to_pylist()
    if first:
        row = f"{ROW_ID[name]}={first[0][row_id]}" if row_id else None
        raise OmopInputError(name, f"{first[0]['value']!r} is not {KIND_TEXT[kind]}", column=column, row=row)
    return converted


def ibis_null_if(col: Any, condition: Any) -> Any:
    import ibis

    return ibis.ifelse(condition, ibis.null(col.type()), col)


_SESSION: Any = None


def spark_session() -> Any:
    """The process's Spark session: local[2] unless SPARK_MASTER (or spark-submit) says otherwise."""
    global _SESSION
    if _SESSION is None:
        os.environ.setdefault("PYSPARK_PYTHON", sys.executable)  # workers run this interpreter
        from pyspark.sql import SparkSession

        builder = SparkSession.builder.appName("iliad7-prescreen")
        if "SPARK_MASTER" in os.environ:
            builder = builder.master(os.environ["SPARK_MASTER"])
        elif "--master" not in os.environ.get("PYSPARK_SUBMIT_ARGS", ""):
            builder = builder.master("local[2]")
        for key, value in SPARK_CONF.items():
            builder = builder.config(key, value)
        _SESSION = builder.getOrCreate()
        _SESSION.sparkContext.setLogLevel("ERROR")
    return _SESSION
