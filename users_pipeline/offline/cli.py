"""The `users-pipeline-gorest` command: the bundled server, alone until interrupted or around one
command that gets each list's URL in its environment.

It ships in the package (also `python -m users_pipeline.gorest_server`) so the offline quickstart
runs from any directory or wheel.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import subprocess
import sys
import threading

from users_pipeline.offline.faults import Faults
from users_pipeline.offline.records import MAX_DEFAULT_RELATED, generate_resources, generate_users
from users_pipeline.offline.server import GoRestServer


def main(argv: list[str] | None = None) -> int:
    """Serve until interrupted, or around one command that gets each list's URL in its env."""
    args, command = _split_command(sys.argv[1:] if argv is None else argv)
    options = _parser().parse_args(args)
    server = _server(options)
    # SIGTERM (CI, docker stop) unwinds like Ctrl-C so the server and any command are cleaned up.
    signal.signal(signal.SIGTERM, _raise_keyboard_interrupt)
    announcement = _announcement(server)
    with server:
        if command:
            print(announcement, file=sys.stderr, flush=True)
            try:
                return _run_command(command, server.urls, options.token)
            except KeyboardInterrupt:
                return 130
        print(announcement, flush=True)
        with contextlib.suppress(KeyboardInterrupt):
            threading.Event().wait()
    return 0


def _split_command(args: list[str]) -> tuple[list[str], list[str]]:
    """The server's own arguments, and the command after `--` (empty without one)."""
    if "--" not in args:
        return args, []
    split = args.index("--")
    return args[:split], args[split + 1 :]


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="users-pipeline-gorest",
        description="GoRest-compatible API (users, posts, comments, todos) on 127.0.0.1,"
        " optionally around a command.",
        epilog="With `-- COMMAND ...`, runs COMMAND with USERS_API_URL, POSTS_API_URL,"
        " COMMENTS_API_URL and TODOS_API_URL (and, with --token, USERS_API_TOKEN and the like) set"
        " and exits with its exit code.",
    )
    cap = f"at most {MAX_DEFAULT_RELATED:,}"
    parser.add_argument("--users", type=int, default=2751, help="number of users (default 2751)")
    parser.add_argument("--posts", type=int, help=f"number of posts (default: one per user, {cap})")
    parser.add_argument(
        "--comments", type=int, help=f"number of comments (default: one per post, {cap})"
    )
    parser.add_argument("--todos", type=int, help=f"number of todos (default: one per user, {cap})")
    parser.add_argument("--seed", type=int, default=0, help="seed for generated records")
    parser.add_argument("--port", type=int, default=0, help="port (default: any free one)")
    parser.add_argument("--token", help="require `Authorization: Bearer TOKEN`")
    parser.add_argument("--rate-limit", type=int, help="requests per 60 s window (default: none)")
    parser.add_argument("--delay-ms", type=float, default=0.0, help="latency added per request")
    return parser


def _server(options: argparse.Namespace) -> GoRestServer:
    """A bound, not yet started, server of freshly generated records, as the options ask."""
    faults = Faults(rate_limit=options.rate_limit, delay_seconds=options.delay_ms / 1000)
    users = generate_users(options.users, seed=options.seed)
    resources = generate_resources(
        users,
        posts=options.posts,
        comments=options.comments,
        todos=options.todos,
        seed=options.seed,
    )
    return GoRestServer(
        users, resources=resources, port=options.port, token=options.token, faults=faults
    )


def _announcement(server: GoRestServer) -> str:
    """One line per list; the first line's form is kept for scripts that read the users URL
    after its last " at "."""
    return "\n".join(
        f"GoRest-compatible server serving {len(listed)} {name} at {server.urls[name]}"
        for name, listed in server.resources.items()
    )


def _raise_keyboard_interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def _run_command(command: list[str], urls: dict[str, str], token: str | None) -> int:
    """Each list's URL as <NAME>_API_URL, and the token as <NAME>_API_TOKEN, like USERS_API_*."""
    env = dict(os.environ)
    for name, url in urls.items():
        env[f"{name.upper()}_API_URL"] = url
        if token is not None:
            env[f"{name.upper()}_API_TOKEN"] = token
    try:
        returncode = subprocess.run(command, env=env).returncode
    except FileNotFoundError:
        print(f"users-pipeline-gorest: command not found: {command[0]}", file=sys.stderr)
        return 127
    # Like a shell: a command killed by signal N exits 128 + N.
    return returncode if returncode >= 0 else 128 - returncode
