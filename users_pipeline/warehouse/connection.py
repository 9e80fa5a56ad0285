"""Connecting to the database of a source's table. No Dagster imports.

The database is named by a URL, by host settings, or is the embedded server. Every failure is
one line naming the settings it came from, and never shows the password.
"""

from __future__ import annotations

from dataclasses import dataclass

import psycopg
from psycopg.conninfo import make_conninfo
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from users_pipeline.errors import PipelineError

CONNECT_TIMEOUT_SECONDS = 10


class DatabaseConfigError(PipelineError):
    """A database that cannot be used; the message names its settings, never the password."""


@dataclass(frozen=True)
class Database:
    """Where to connect, and how messages speak of it."""

    conninfo: str  # for psycopg: holds the password
    display: str  # for messages: without it
    setting: str  # the settings it comes from
    password: str | None = None  # masked in messages


def parse_database_url(url: str, setting: str) -> tuple[str, str]:
    """(libpq URL for psycopg, the same URL with the password masked for messages), from the
    URL of `setting`.

    Accepts SQLAlchemy spellings too (`postgresql+psycopg2://...`), which users copy from
    Airflow connections and ORMs.
    """
    try:
        parsed = make_url(url)
    except ArgumentError:
        raise DatabaseConfigError(
            f"{setting} is not a URL like postgresql://user:password@host:5432/dbname"
        ) from None
    if parsed.get_backend_name() not in ("postgresql", "postgres"):
        raise DatabaseConfigError(
            f"{setting} must be a postgresql:// URL, got {parsed.get_backend_name()}://"
        )
    parsed = parsed.set(drivername="postgresql")
    return parsed.render_as_string(hide_password=False), parsed.render_as_string()


def database_at_url(url: str, setting: str) -> Database:
    conninfo, display = parse_database_url(url, setting)
    return Database(conninfo, display, setting, make_url(conninfo).password)


def database_at_host(
    host: str,
    port: int | None,
    user: str | None,
    password: str | None,
    dbname: str | None,
    setting: str,
) -> Database:
    conninfo = make_conninfo(host=host, port=port, user=user, password=password, dbname=dbname)
    display = f"host={host} port={port or 5432} user={user}"
    return Database(conninfo, display, setting, password)


def connect(database: Database) -> psycopg.Connection:
    """An autocommit connection: each load opens its own transaction, so the days of a range
    commit one by one, and a failed day leaves the days before it loaded."""
    try:
        return psycopg.connect(
            database.conninfo, connect_timeout=CONNECT_TIMEOUT_SECONDS, autocommit=True
        )
    except psycopg.Error as error:
        reason = " ".join(line.strip() for line in str(error).splitlines()) or repr(error)
        if database.password:
            reason = reason.replace(str(database.password), "***")
        raise DatabaseConfigError(
            f"cannot connect to {database.setting} ({database.display}): {reason}"
        ) from None
