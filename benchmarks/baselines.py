"""The two loads the pipeline's `pg_users_table` is compared with, on the same day's records.

- "article": what the hand-written pipelines do, `pandas.DataFrame(...).to_sql(...)` with the
  default `method=None`, i.e. SQLAlchemy's executemany of one INSERT per row.
- "bare COPY": the floor for getting these rows into PostgreSQL from Python at all: psycopg 3
  `COPY ... FROM STDIN` with `write_row`, into a table without any constraint, in one transaction,
  from tuples already in memory (no parsing, no validation, no checksum, no upsert).
"""

from __future__ import annotations

import time
from pathlib import Path

import orjson
import pandas as pd
import psycopg
import sqlalchemy
from psycopg import sql

SCHEMA = "bench"
COLUMNS = ("id", "name", "email", "gender", "status")
UserTuple = tuple[int, str, str, str, str]


def read_day_records(day_file: Path) -> list[UserTuple]:
    """The day file (the same bytes as the archived object) as (id, name, email, gender, status)
    tuples. Not timed: both baselines start from records already in memory."""
    return [
        (record["id"], record["name"], record["email"], record["gender"], record["status"])
        for record in map(orjson.loads, day_file.read_bytes().splitlines())
    ]


def ensure_schema(uri: str) -> None:
    with psycopg.connect(uri, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(sql.Identifier(SCHEMA)))


def checkpoint(uri: str) -> None:
    """Flush dirty buffers so each timed load starts from the same server state, instead of
    paying for the previous load's writes."""
    with psycopg.connect(uri, autocommit=True) as conn:
        conn.execute("CHECKPOINT")


def drop_tables(uri: str, *tables: str) -> None:
    """Drop `schema.table`s if they exist, so the next load is a first load again."""
    names = [sql.Identifier(*table.split(".")) for table in tables]
    with psycopg.connect(uri, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP TABLE IF EXISTS {}").format(sql.SQL(", ").join(names)))


def count_rows(uri: str, table: str) -> int:
    schema, name = table.split(".")
    with psycopg.connect(uri) as conn:
        query = sql.SQL("SELECT count(*) FROM {}").format(sql.Identifier(schema, name))
        row = conn.execute(query).fetchone()
    assert row is not None
    return int(row[0])


def article_to_sql(uri: str, records: list[UserTuple], table: str) -> float:
    """Seconds for the article's load: DataFrame, `inserted_from` column, `to_sql` (append)."""
    engine = sqlalchemy.create_engine("postgresql+psycopg://", creator=lambda: psycopg.connect(uri))
    try:
        started = time.perf_counter()
        frame = pd.DataFrame(records, columns=list(COLUMNS))
        frame["inserted_from"] = "dagster"
        frame.to_sql(table, engine, schema=SCHEMA, if_exists="append", index=False)
        return time.perf_counter() - started
    finally:
        engine.dispose()


def bare_copy(uri: str, records: list[UserTuple], table: str) -> float:
    """Seconds for COPY of the tuples into a new unconstrained table, in one transaction."""
    target = sql.Identifier(SCHEMA, table)
    with psycopg.connect(uri, autocommit=True) as conn:
        conn.execute(
            sql.SQL(
                "CREATE TABLE {} (id bigint, name text, email text, gender text, status text)"
            ).format(target)
        )
        statement = sql.SQL("COPY {} (id, name, email, gender, status) FROM STDIN").format(target)
        started = time.perf_counter()
        with conn.transaction(), conn.cursor() as cursor, cursor.copy(statement) as copy:
            write_row = copy.write_row
            for row in records:
                write_row(row)
        return time.perf_counter() - started
