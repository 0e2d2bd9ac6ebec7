"""Copy a folder of OMOP Parquet tables into a PostgreSQL database (the tests' and the benchmark's way
to give the postgresql engine the same data the other engines read)."""

from __future__ import annotations

import io
from pathlib import Path

PG_TYPES = {"int": "bigint", "number": "double precision", "date": "date", "datetime": "timestamp", "text": "text"}


def copy_to_postgresql(folder: Path, url: str, schema: str = "public") -> None:
    import psycopg
    import pyarrow.csv as pacsv
    import pyarrow.parquet as pq

    from iliad7.prescreen.source import TABLES

    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA IF NOT EXISTS "{schema}"')
        for path in sorted(folder.glob("*.parquet")):
            name = path.stem
            table = pq.read_table(path)
            kinds = TABLES.get(name, {})
            columns = []
            for field in table.schema:
                kind = kinds.get(field.name, (None,))[0]
                if kind is None:
                    kind = (
                        "text" if str(field.type) == "string" else "date" if str(field.type) == "date32[day]" else "int"
                    )
                columns.append(f'"{field.name}" {PG_TYPES[kind]}')
            conn.execute(f'DROP TABLE IF EXISTS "{schema}"."{name}"')
            conn.execute(f'CREATE TABLE "{schema}"."{name}" ({", ".join(columns)})')
            buffer = io.BytesIO()
            pacsv.write_csv(table, buffer, pacsv.WriteOptions(include_header=False))
            with conn.cursor().copy(f'COPY "{schema}"."{name}" FROM STDIN WITH (FORMAT csv)') as copy:
                copy.write(buffer.getvalue())
