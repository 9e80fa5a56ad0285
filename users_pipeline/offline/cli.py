"""The `users-pipeline-gorest` command: the bundled server, alone until interrupted or around one
command that gets each list's URL, and each pagination style's URL and credentials, in its
environment (the names are in `--help`).

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

from users_pipeline.offline.customers import GeneratedCustomers
from users_pipeline.offline.faults import GOREST_RATE_WINDOW_SECONDS, Faults
from users_pipeline.offline.records import (
    INVALID_KINDS,
    MAX_DEFAULT_RELATED,
    generate_resources,
    generate_users,
    invalid_count,
)
from users_pipeline.offline.server import GoRestServer
from users_pipeline.offline.styles import (
    DEFAULT_TOKEN_EXPIRES_AFTER,
    STYLED_RESOURCE,
    STYLES,
    Credentials,
)

DEFAULT_CUSTOMERS = 1000
ENV_PREFIX = STYLED_RESOURCE.upper()
# Each credential of the styles: its flag, its `Credentials` field, the variable a command gets it
# in (after ENV_PREFIX_), and what it is.
STYLE_CREDENTIALS = (
    ("--api-key", "api_key", "API_KEY", "API key of cursor, header_cursor and single_page"),
    ("--bearer-token", "bearer_token", "BEARER_TOKEN", "bearer token of header_link"),
    ("--basic-user", "username", "USERNAME", "HTTP basic user name of offset"),
    ("--basic-password", "password", "PASSWORD", "HTTP basic password of offset"),
    ("--client-id", "client_id", "CLIENT_ID", "OAuth2 client id (tokens for page_number)"),
    ("--client-secret", "client_secret", "CLIENT_SECRET", "OAuth2 client secret"),
)


def main(argv: list[str] | None = None) -> int:
    """Serve until interrupted, or around one command that gets each list's URL in its env."""
    args, command = _split_command(sys.argv[1:] if argv is None else argv)
    parser = _parser()
    options = parser.parse_args(args)
    try:
        server = _server(options)
    except ValueError as error:  # options that contradict each other, such as too many invalid
        parser.error(str(error))
    # SIGTERM (CI, docker stop) unwinds like Ctrl-C so the server and any command are cleaned up.
    signal.signal(signal.SIGTERM, _raise_keyboard_interrupt)
    announcement = _announcement(server)
    with server:
        if command:
            print(announcement, file=sys.stderr, flush=True)
            try:
                env = {**os.environ, **server_environment(server, options.token)}
                return _run_command(command, env)
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
        description="GoRest-compatible API (users, posts, comments, todos) on 127.0.0.1, with\n"
        "customers in every pagination style beside it, optionally around a command.",
        epilog=_epilog(),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    _add_record_counts(parser)
    _add_invalid_users(parser)
    parser.add_argument("--port", type=int, default=0, help="port (default: any free one)")
    parser.add_argument("--token", help="require `Authorization: Bearer TOKEN`")
    _add_faults(parser)
    _add_pagination_styles(parser)
    return parser


def _add_record_counts(parser: argparse.ArgumentParser) -> None:
    """How many GoRest records of each list, and the seed they are generated from."""
    cap = f"at most {MAX_DEFAULT_RELATED:,}"
    parser.add_argument("--users", type=int, default=2751, help="number of users (default 2751)")
    parser.add_argument("--posts", type=int, help=f"number of posts (default: one per user, {cap})")
    parser.add_argument(
        "--comments", type=int, help=f"number of comments (default: one per post, {cap})"
    )
    parser.add_argument("--todos", type=int, help=f"number of todos (default: one per user, {cap})")
    parser.add_argument("--seed", type=int, default=0, help="seed for generated records")


def _add_invalid_users(parser: argparse.ArgumentParser) -> None:
    """Users that break the users contract, as a share or a count (one or the other)."""
    invalid = parser.add_mutually_exclusive_group()
    kinds = ", ".join(field for field, _broken in INVALID_KINDS)
    invalid.add_argument(
        "--invalid-share",
        type=float,
        metavar="SHARE",
        help=f"share of the users (0 to 1) that break the users contract, one field each ({kinds}),"
        " spread over the list (default 0)",
    )
    invalid.add_argument(
        "--invalid-count", type=int, metavar="N", help="number of such invalid users, instead"
    )


def _add_faults(parser: argparse.ArgumentParser) -> None:
    """GoRest's rate limit and added latency."""
    parser.add_argument(
        "--rate-limit", type=int, help="GoRest requests per sliding window (default: none)"
    )
    parser.add_argument(
        "--rate-window-seconds",
        type=float,
        default=GOREST_RATE_WINDOW_SECONDS,
        help=f"length of the rate limit's sliding window (default {GOREST_RATE_WINDOW_SECONDS:g})",
    )
    parser.add_argument(
        "--rate-headers",
        choices=("gorest", "ietf", "none"),
        default="gorest",
        help="how the rate limit is stated: GoRest's X-RateLimit-*, the IETF draft's RateLimit-*"
        " with RateLimit-Policy, or not at all (default gorest)",
    )
    parser.add_argument(
        "--retry-after",
        choices=("seconds", "date"),
        help="a rate-limit 429 also sends Retry-After, in seconds or as an HTTP date"
        " (default: none, as GoRest)",
    )
    parser.add_argument("--delay-ms", type=float, default=0.0, help="latency added per request")


def _add_pagination_styles(parser: argparse.ArgumentParser) -> None:
    """The customers every style serves, each style's credentials and the OAuth2 token's life."""
    styles = parser.add_argument_group("pagination styles")
    styles.add_argument(
        "--customers",
        type=int,
        default=DEFAULT_CUSTOMERS,
        help=f"number of customers each style serves (default {DEFAULT_CUSTOMERS})",
    )
    default = Credentials()
    for flag, field, _variable, what in STYLE_CREDENTIALS:
        styles.add_argument(
            flag, dest=field, default=getattr(default, field), help=f"{what} (default %(default)s)"
        )
    styles.add_argument(
        "--token-expires-after",
        type=int,
        default=DEFAULT_TOKEN_EXPIRES_AFTER,
        metavar="N",
        help="requests each OAuth2 token serves before it gets 401; 0 for any number"
        f" (default {DEFAULT_TOKEN_EXPIRES_AFTER})",
    )


def _epilog() -> str:
    style_urls = "\n".join(
        f"  {ENV_PREFIX}_{style.upper()}_URL  /styles/{style}/{STYLED_RESOURCE}" for style in STYLES
    )
    credentials = "\n".join(
        f"  {ENV_PREFIX}_{variable}  {flag}" for flag, _field, variable, _what in STYLE_CREDENTIALS
    )
    return f"""\
With `-- COMMAND ...`, runs COMMAND with these set and exits with its exit code:
  USERS_API_URL, POSTS_API_URL, COMMENTS_API_URL, TODOS_API_URL  GoRest's lists
  (with --token, also USERS_API_TOKEN and the like)
{style_urls}
  {ENV_PREFIX}_TOKEN_URL  /oauth/token: OAuth2 client credentials, as a form or HTTP basic
{credentials}

Each style (query; body and headers; auth):
  cursor         ?cursor=&limit=; {{"object": "list", "data": [...], "has_more": bool,
                 "next_cursor": "..."}}; header X-API-Key
  header_link    ?page=&per_page= (30); a bare array, Link: <...>; rel="next"; bearer token
  json_link      ?page=&page_size=; {{"count", "next", "previous", "results": [...]}}; none
  offset         ?offset=&limit=; {{"items": [...], "total": N}}; HTTP basic
  page_number    ?page=&per_page=; {{"data": [...], "page", "total_pages",
                 "total_records"}}; bearer token from /oauth/token
  header_cursor  ?cursor=&limit=; a bare array, Next-Cursor header; ?api_key=
  single_page    {{"data": {{"customers": [...]}}}}; cookie api_key=
Pages start at 1; sizes default to 10, at most 100. fault=loop repeats the next cursor or URL
from the second page on; fault=foreign_next points next URLs at 127.0.0.2.
"""


def _server(options: argparse.Namespace) -> GoRestServer:
    """A bound, not yet started, server of freshly generated records, as the options ask."""
    faults = Faults(
        rate_limit=options.rate_limit,
        window_seconds=options.rate_window_seconds,
        rate_headers=options.rate_headers,
        retry_after=options.retry_after,
        delay_seconds=options.delay_ms / 1000,
    )
    invalid = options.invalid_count or 0
    if options.invalid_share is not None:
        invalid = invalid_count(options.invalid_share, options.users)
    users = generate_users(options.users, seed=options.seed, invalid=invalid)
    resources = generate_resources(
        users,
        posts=options.posts,
        comments=options.comments,
        todos=options.todos,
        seed=options.seed,
    )
    credentials = Credentials(
        **{field: getattr(options, field) for _flag, field, _variable, _what in STYLE_CREDENTIALS}
    )
    return GoRestServer(
        users,
        resources=resources,
        port=options.port,
        token=options.token,
        faults=faults,
        customers=GeneratedCustomers(options.customers, seed=options.seed),
        credentials=credentials,
        token_expires_after=options.token_expires_after or None,
    )


def _announcement(server: GoRestServer) -> str:
    """One line per list, then per style; the first line's form is kept for scripts that read
    the users URL after its last " at "."""
    lists = [
        f"GoRest-compatible server serving {len(listed)} {name} at {server.urls[name]}"
        for name, listed in server.resources.items()
    ]
    count = len(server.customers)
    styles = [
        f"{style} pagination serving {count} {STYLED_RESOURCE} at {url}"
        for style, url in server.style_urls.items()
    ]
    return "\n".join([*lists, *styles, f"OAuth2 client credentials token at {server.token_url}"])


def _raise_keyboard_interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def server_environment(server: GoRestServer, token: str | None = None) -> dict[str, str]:
    """Each list's URL as <NAME>_API_URL, and the token as <NAME>_API_TOKEN, like USERS_API_*;
    each style's URL as CUSTOMERS_<STYLE>_URL, the token endpoint and the credentials."""
    env = {}
    for name, url in server.urls.items():
        env[f"{name.upper()}_API_URL"] = url
        if token is not None:
            env[f"{name.upper()}_API_TOKEN"] = token
    for style, url in server.style_urls.items():
        env[f"{ENV_PREFIX}_{style.upper()}_URL"] = url
    env[f"{ENV_PREFIX}_TOKEN_URL"] = server.token_url
    for _flag, field, variable, _what in STYLE_CREDENTIALS:
        env[f"{ENV_PREFIX}_{variable}"] = getattr(server.credentials, field)
    return env


def _run_command(command: list[str], env: dict[str, str]) -> int:
    try:
        returncode = subprocess.run(command, env=env).returncode
    except FileNotFoundError:
        print(f"users-pipeline-gorest: command not found: {command[0]}", file=sys.stderr)
        return 127
    # Like a shell: a command killed by signal N exits 128 + N.
    return returncode if returncode >= 0 else 128 - returncode
