"""Client CPU per request of Python's HTTP stacks, and of a whole `RestClient` crawl.

    python -m benchmarks.http_stacks [--users 100000] [--requests 1000] [--rounds 5]
                                     [--baseline-ref HEAD]

The GoRest-compatible server runs in a process of its own, so `time.process_time()` of this
process is the client's CPU only. Each stack fetches the same pages (100 users each) one after
the other on one keep-alive connection and streams every body, as the client does (http.client,
the floor with none of the features the client needs, reads it whole). `transport` is the
client's own GET (`users_pipeline.http.transport`), `requests` a plain Session, which reads the
environment again on every request. Stacks take turns within each round, and the medians over
the rounds are reported with their ratio to `requests`: this machine is shared and noisy, so
one run of one stack says little.

Each `RestClient` crawl runs in a process of its own, which reports the CPU of the crawl alone.
`--baseline-ref` also crawls with the client as it was at that git revision (one with
`users_pipeline/http/client.py`), turn about with the working tree's, to compare a change to
the client. (httpx is installed with dagster-dg-cli.)
"""

from __future__ import annotations

import argparse
import http.client
import io
import json
import os
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import NamedTuple
from urllib.parse import urlencode, urlsplit

import httpx
import requests
import urllib3

from benchmarks.services import ROOT, gorest_server
from users_pipeline.http.transport import BODY_CHUNK_BYTES, Transport
from users_pipeline.settings import DEFAULT_MAX_PAGE_BYTES, SettingNames

CHUNK_BYTES = BODY_CHUNK_BYTES
Fetch = Callable[[int], bytes]  # page number -> body


@contextmanager
def transport(url: str) -> Iterator[Fetch]:
    """The client's GET: the environment read once, a session per thread, the body capped."""
    client = Transport(
        url,
        auth=None,
        timeout_seconds=30,
        max_body_bytes=DEFAULT_MAX_PAGE_BYTES,
        names=SettingNames(),
    )
    try:

        def fetch(page: int) -> bytes:
            return client.get(client.url_with({"page": page, "per_page": 100}), "GET").content

        yield fetch
    finally:
        client.close()


@contextmanager
def requests_session(url: str) -> Iterator[Fetch]:
    """A Session as most code uses it, streamed, no redirects."""
    with requests.Session() as session:

        def fetch(page: int) -> bytes:
            params = {"page": page, "per_page": 100}
            with session.get(url, params=params, stream=True, allow_redirects=False) as response:
                return b"".join(response.iter_content(CHUNK_BYTES))

        yield fetch


@contextmanager
def urllib3_pool(url: str) -> Iterator[Fetch]:
    with urllib3.PoolManager() as pool:

        def fetch(page: int) -> bytes:
            response = pool.request(
                "GET",
                f"{url}?page={page}&per_page=100",
                preload_content=False,
                redirect=False,
                retries=False,
            )
            try:
                return b"".join(response.stream(CHUNK_BYTES))
            finally:
                response.release_conn()

        yield fetch


@contextmanager
def httpx_client(url: str) -> Iterator[Fetch]:
    with httpx.Client() as client:

        def fetch(page: int) -> bytes:
            params = {"page": page, "per_page": 100}
            with client.stream("GET", url, params=params) as response:
                return b"".join(response.iter_bytes(CHUNK_BYTES))

        yield fetch


@contextmanager
def http_client(url: str) -> Iterator[Fetch]:
    """The standard library's http.client: no pool, proxy, redirect or decoding logic at all."""
    parts = urlsplit(url)
    connection = http.client.HTTPConnection(parts.hostname, parts.port)
    try:

        def fetch(page: int) -> bytes:
            connection.request("GET", f"{parts.path}?{urlencode({'page': page, 'per_page': 100})}")
            return connection.getresponse().read()

        yield fetch
    finally:
        connection.close()


STACKS = {
    "requests": requests_session,
    "transport": transport,
    "urllib3": urllib3_pool,
    "httpx": httpx_client,
    "http.client": http_client,
}


class Sample(NamedTuple):
    cpu: float  # seconds of this process's CPU, all threads
    wall: float
    requests: int


def time_stack(stack: Callable, url: str, pages: int, count: int) -> Sample:
    """`count` page requests, after a few to warm the connection up."""
    with stack(url) as fetch:
        for page in range(1, 6):
            fetch(page)
        cpu, wall = time.process_time(), time.perf_counter()
        for n in range(count):
            body = fetch(n % pages + 1)
            assert body.startswith(b"[{"), body[:100]
        return Sample(time.process_time() - cpu, time.perf_counter() - wall, count)


# One crawl with the client's default settings (4 pages in flight), in a process of its own.
CRAWL = """
import json, sys, time
from users_pipeline.http.client import RestClient
cpu, wall = time.process_time(), time.perf_counter()
with RestClient(sys.argv[1]) as client:
    fetched = sum(len(page.records) for page in client.iter_pages())
cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
print(json.dumps([cpu, wall, client.stats.requests, fetched]))
"""


def time_crawl(tree: Path, url: str, users: int) -> Sample:
    """One whole crawl by the `users_pipeline` package in `tree`."""
    environment = {**os.environ, "PYTHONPATH": str(tree)}
    result = subprocess.run(
        [sys.executable, "-c", CRAWL, url],
        cwd=tree,
        env=environment,
        check=True,
        capture_output=True,
        text=True,
    )
    cpu, wall, requests_made, fetched = json.loads(result.stdout.splitlines()[-1])
    assert fetched == users, f"crawled {fetched} users of {users}"
    return Sample(cpu, wall, requests_made)


def tree_at(ref: str, folder: Path) -> Path:
    """The `users_pipeline` package as it was at git revision `ref`, written under `folder`."""
    archive = subprocess.run(
        ["git", "archive", ref, "users_pipeline"], cwd=ROOT, check=True, capture_output=True
    ).stdout
    tree = folder / "baseline"
    with tarfile.open(fileobj=io.BytesIO(archive)) as files:
        files.extractall(tree, filter="data")
    if not (tree / "users_pipeline" / "http" / "client.py").exists():
        raise SystemExit(f"{ref} has no users_pipeline/http/client.py to crawl with")
    return tree


def report(title: str, rows: dict[str, list[Sample]]) -> None:
    """Medians per request and per run of each row, and its CPU against the first row's."""
    rounds = len(next(iter(rows.values())))
    print(f"\n{title}, median of {rounds} rounds")
    print(f"{'':16}{'CPU ms/req':>12}{'wall ms/req':>12}{'CPU s':>9}{'wall s':>9}{'CPU ratio':>11}")
    base = None
    for name, samples in rows.items():
        cpu = statistics.median(sample.cpu for sample in samples)
        wall = statistics.median(sample.wall for sample in samples)
        per_request = 1000 / samples[0].requests
        base = base or cpu
        print(
            f"{name:16}{cpu * per_request:12.3f}{wall * per_request:12.3f}"
            f"{cpu:9.2f}{wall:9.2f}{cpu / base:10.2f}x"
        )


def rotated(names: list[str], turn: int) -> list[str]:
    """Who goes first changes every round: no stack always runs on a warmer (or busier) box."""
    turn %= len(names)
    return names[turn:] + names[:turn]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.http_stacks",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--users", type=int, default=100_000, help="users served (default 100000)")
    parser.add_argument("--requests", type=int, default=1000, help="requests per stack and round")
    parser.add_argument("--rounds", type=int, default=5, help="rounds; medians are reported")
    parser.add_argument("--baseline-ref", help="also crawl with the client at this git revision")
    options = parser.parse_args(argv)

    pages = -(-options.users // 100)
    with (
        tempfile.TemporaryDirectory() as folder,
        gorest_server(options.users, Path(folder) / "gorest.log") as url,
    ):
        trees = {"this tree": ROOT}
        if options.baseline_ref:
            trees = {options.baseline_ref: tree_at(options.baseline_ref, Path(folder)), **trees}
        stacks: dict[str, list[Sample]] = {name: [] for name in STACKS}
        crawls: dict[str, list[Sample]] = {name: [] for name in trees}
        print(f"{options.users} users at {url}")
        for turn in range(options.rounds):
            for name in rotated(list(STACKS), turn):
                stacks[name].append(time_stack(STACKS[name], url, pages, options.requests))
            for name in rotated(list(trees), turn):
                crawls[name].append(time_crawl(trees[name], url, options.users))
            done = ", ".join(
                f"{name} {samples[-1].cpu * 1000 / samples[-1].requests:.3f}"
                for name, samples in {**stacks, **crawls}.items()
            )
            print(f"round {turn + 1}, CPU ms/request: {done}", flush=True)
    report(f"One connection, {options.requests} pages one after another", stacks)
    report(f"RestClient crawl of {options.users} users", crawls)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
