"""How much of a sliding-window rate budget the fetch uses, and the 429s it meets.

    python -m benchmarks.pacing [--pages 360] [--limit 90] [--window-seconds 20]

The bundled GoRest server serves PAGES pages of 100 users under LIMIT requests in any
WINDOW_SECONDS (GoRest's own shape, 90 in 60 s, scaled down), stating its budget as GoRest does
(`X-RateLimit-*`, the window's length nowhere). `RestClient` crawls every page with its default
threads. No window may hold more than LIMIT requests, so the last of P pages cannot come before
floor((P - 1) / LIMIT) windows: that floor over the fetch's time is the budget used (target: at
least 95%), beside the 429s the server sent (target: 0). The server runs in this process so that
its own count of the 429s is read, not the client's.
"""

from __future__ import annotations

import argparse
import math
import time
from typing import Any

from benchmarks.services import run_until_interrupted
from users_pipeline.http.client import RestClient
from users_pipeline.http.endpoint import list_endpoint
from users_pipeline.offline import Faults, GoRestServer, generate_users
from users_pipeline.settings import SettingNames

PAGES = 360
LIMIT = 90
WINDOW_SECONDS = 20.0
PAGE_SIZE = 100
TARGET_BUDGET_USED = 0.95
TARGET_RATE_LIMITED = 0


def measure_pacing(
    pages: int = PAGES, limit: int = LIMIT, window_seconds: float = WINDOW_SECONDS
) -> dict[str, Any]:
    """One crawl of `pages` pages under `limit` requests per `window_seconds`."""
    users = generate_users(pages * PAGE_SIZE)
    with GoRestServer(users) as server:
        server.faults = Faults(rate_limit=limit, window_seconds=window_seconds)
        endpoint = list_endpoint(page_size=PAGE_SIZE, names=SettingNames())
        with RestClient(server.url, endpoint=endpoint) as client:
            started = time.perf_counter()
            crawled = sum(len(page.records) for page in client.iter_pages())
            seconds = time.perf_counter() - started
            threads = client.threads()
        rate_limited = server.faults.rate_limited
        requests = len(server.requests)
    floor = math.floor((pages - 1) / limit) * window_seconds
    return {
        "pages": pages,
        "limit": limit,
        "window_seconds": window_seconds,
        "threads": threads,
        "requests": requests,
        "users_crawled": crawled,
        "fetch_seconds": seconds,
        "floor_seconds": floor,
        "budget_used": floor / seconds,
        "rate_limited": rate_limited,
        "problems": pacing_problems(crawled, len(users), floor / seconds, rate_limited),
    }


def pacing_problems(crawled: int, served: int, used: float, rate_limited: int) -> list[str]:
    problems = []
    if crawled != served:
        problems.append(f"crawled {crawled} users of the {served} served")
    if used < TARGET_BUDGET_USED:
        problems.append(f"budget used {used:.1%}, target at least {TARGET_BUDGET_USED:.0%}")
    if rate_limited > TARGET_RATE_LIMITED:
        problems.append(f"{rate_limited} 429s, target {TARGET_RATE_LIMITED}")
    return problems


def format_pacing(result: dict[str, Any]) -> str:
    return (
        f"pacing ({result['pages']} pages of {PAGE_SIZE} users, {result['limit']} requests per"
        f" {result['window_seconds']:g} s, {result['threads']} threads): fetch"
        f" {result['fetch_seconds']:.2f} s, floor {result['floor_seconds']:g} s; budget used"
        f" {result['budget_used']:.1%} (target >= {TARGET_BUDGET_USED:.0%}), 429s"
        f" {result['rate_limited']} (target {TARGET_RATE_LIMITED})"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.pacing", description=__doc__)
    parser.add_argument("--pages", type=int, default=PAGES)
    parser.add_argument("--limit", type=int, default=LIMIT)
    parser.add_argument("--window-seconds", type=float, default=WINDOW_SECONDS)
    args = parser.parse_args(argv)
    result = measure_pacing(args.pages, args.limit, args.window_seconds)
    print(format_pacing(result))
    for problem in result["problems"]:
        print(f"PROBLEM pacing: {problem}")
    return 1 if result["problems"] else 0


if __name__ == "__main__":
    run_until_interrupted(main)
