"""The benchmark's outside systems, each a context manager that always stops what it started.

Everything listens on 127.0.0.1. The GoRest-compatible API and moto's S3 server run as separate
processes (in their own sessions, so a Ctrl-C reaches only the benchmark, which then stops them
in order); PostgreSQL is the pipeline's own embedded server.
"""

from __future__ import annotations

import select
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from datetime import date
from pathlib import Path
from typing import NoReturn

from dagster_aws.s3 import S3Resource

from users_pipeline.orchestration.resources import ArchiveResource
from users_pipeline.storage.files import file_digest
from users_pipeline.storage.layout import DayFiles
from users_pipeline.warehouse.embedded import start_embedded_postgres

ROOT = Path(__file__).resolve().parent.parent
VENV_BIN = Path(sys.executable).parent
S3_CREDENTIALS = {"aws_access_key_id": "bench", "aws_secret_access_key": "bench"}
STOP_TIMEOUT_SECONDS = 10.0


class ServiceError(RuntimeError):
    """A service did not start; the message names it and points at its log."""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def run_until_interrupted(main: Callable[[], int]) -> NoReturn:
    """Exit with `main()`'s status; on Ctrl-C, with 130, once every service has been stopped
    (each service's context manager stops it on the way out)."""
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        print("interrupted; every server was stopped", file=sys.stderr)
        sys.exit(130)


@contextmanager
def interrupts_deferred() -> Iterator[None]:
    """Let a cleanup finish even if Ctrl-C (or SIGTERM) arrives during it, then raise
    KeyboardInterrupt: a second Ctrl-C must not leave a server running."""
    received: list[int] = []
    signals = (signal.SIGINT, signal.SIGTERM)
    previous = {signum: signal.getsignal(signum) for signum in signals}
    for signum in signals:
        signal.signal(signum, lambda signum, frame: received.append(signum))
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
    if received:
        raise KeyboardInterrupt


def stop_process(process: subprocess.Popen) -> None:
    """SIGTERM, then SIGKILL if it has not exited within STOP_TIMEOUT_SECONDS; always reaped."""
    with interrupts_deferred():
        if process.poll() is not None:
            return
        process.terminate()
        try:
            process.wait(STOP_TIMEOUT_SECONDS)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _log_tail(path: Path, lines: int = 20) -> str:
    with suppress(OSError):
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    return ""


@contextmanager
def embedded_postgres(folder: Path) -> Iterator[str]:
    """The pipeline's embedded PostgreSQL with its data in `folder`; yields its URI."""
    server = start_embedded_postgres(folder)
    try:
        yield server.get_uri()
    finally:
        with interrupts_deferred():
            server.cleanup()


@contextmanager
def moto_s3(log: Path, timeout_seconds: float = 30.0) -> Iterator[str]:
    """moto's S3 server in its own process (its CPU is not ours); yields the endpoint URL."""
    port = free_port()
    endpoint = f"http://127.0.0.1:{port}"
    with open(log, "wb") as log_file:
        process = subprocess.Popen(
            [str(VENV_BIN / "moto_server"), "-H", "127.0.0.1", "-p", str(port)],
            stdin=subprocess.DEVNULL,
            stdout=log_file,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        deadline = time.monotonic() + timeout_seconds
        while not _answers(endpoint):
            if process.poll() is not None or time.monotonic() > deadline:
                raise ServiceError(f"moto_server did not answer at {endpoint}:\n{_log_tail(log)}")
            time.sleep(0.1)
        yield endpoint
    finally:
        stop_process(process)


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=1):
            return True
    except urllib.error.HTTPError:
        return True  # any HTTP status means it is serving
    except OSError:
        return False


def s3_resource(endpoint: str) -> S3Resource:
    return S3Resource(endpoint_url=endpoint, region_name="us-east-1", **S3_CREDENTIALS)


def create_bucket(endpoint: str, bucket: str) -> None:
    s3_resource(endpoint).get_client().create_bucket(Bucket=bucket)


def archive_again(endpoint: str, bucket: str, files: DayFiles, day: date) -> None:
    """Archive a day's file and manifest again as `day`'s snapshot (the manifest
    names no day), as if the API had served the same users that day. (Uploaded rather than
    copied: moto's `CopyObject` keeps a multipart object's checksum, which a `GetObject` then
    fails.)"""
    archive = ArchiveResource(s3=s3_resource(endpoint), bucket=bucket, prefix="users")
    store, keys = archive.get_archive(), archive.layout("users").keys(day)
    for path, key in ((files.records, keys.records), (files.manifest, keys.manifest)):
        store.put(path, key, file_digest(path))


@contextmanager
def gorest_server(
    users: int, log: Path, delay_ms: float = 0.0, timeout_seconds: float = 300.0
) -> Iterator[str]:
    """`python -m users_pipeline.gorest_server` serving `users` users; yields its URL
    once it prints its announcement (generating a million users takes about 10 s)."""
    command = [
        sys.executable,
        "-m",
        "users_pipeline.gorest_server",
        "--users",
        str(users),
        "--port",
        str(free_port()),
    ]
    if delay_ms:
        command += ["--delay-ms", str(delay_ms)]
    with open(log, "wb") as log_file:
        process = subprocess.Popen(
            command,
            cwd=ROOT,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=log_file,
            start_new_session=True,
        )
    try:
        assert process.stdout is not None
        ready, _, _ = select.select([process.stdout], [], [], timeout_seconds)
        line = process.stdout.readline().decode().strip() if ready else ""
        if " at http" not in line:
            raise ServiceError(
                f"GoRest server for {users} users did not start within {timeout_seconds:g} s"
                f" (got {line!r}):\n{_log_tail(log)}"
            )
        yield line.rsplit(" at ", 1)[1]
    finally:
        stop_process(process)
        if process.stdout is not None:
            process.stdout.close()
