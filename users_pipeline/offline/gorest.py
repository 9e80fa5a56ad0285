"""A local stand-in for GoRest v2's list API (users, posts, comments, todos), with switches to
inject faults.

Tests and the README's offline quickstart need GoRest's exact behaviour (pagination headers, the
silent `per_page` cap, a rate limit whose reset is in seconds, JSON errors) without internet, and
tests also need failures GoRest will not produce on demand: 5xx, 429, HTML bodies, dropped
connections, slow responses. It ships in the package as the `users-pipeline-gorest` command (also
`python -m users_pipeline.offline.gorest`), so the offline quickstart runs from any directory or
wheel; standard library only, so serving adds no dependency to the pipeline's.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import random
import signal
import socket
import socketserver
import subprocess
import sys
import threading
import time
import unicodedata
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, timedelta
from http.client import responses as STATUS_PHRASES
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl, urlsplit

API_PATH = "/public/v2"
# The lists served at API_PATH/<name>, users first: the pipeline's own list.
RESOURCES = ("users", "posts", "comments", "todos")
DEFAULT_PAGE_SIZE = 10
MAX_PAGE_SIZE = 100
# Rate-limit headers GoRest would send to a client that has budget to spare.
UNLIMITED_RATE = 1_000_000
JSON_TYPE = "application/json; charset=utf-8"
HTML_TYPE = "text/html; charset=UTF-8"
# GoRest's own wording; any other status gets its standard reason phrase.
ERROR_MESSAGES = {
    401: "Authentication failed",
    404: "Resource not found",
    429: "Too many requests",
}
# A forced 429 looks like a spent budget: nothing left, retry in a second.
X_RATELIMIT_EXHAUSTED = {"X-RateLimit-Remaining": "0", "X-RateLimit-Reset": "1"}

# (weight, male given names, female given names, family names): a name stays within one
# culture so it looks real; GoRest itself mostly serves Indian names, hence the weights.
NAME_CULTURES = [
    (
        6,
        ["Ajit", "Chandran", "Deepak", "Gopal", "Nikhil", "Ravi", "Vikram", "Jagadish"],
        ["Aditi", "Bhavani", "Chitra", "Gita", "Kamala", "Meera", "Nandini", "Priya"],
        ["Gupta", "Iyer", "Kaur", "Mehra", "Nair", "Pillai", "Reddy", "Sharma", "Dutta"],
    ),
    (
        1,
        ["Seán", "Tomás", "Ciarán", "Pádraig"],
        ["Zoë", "Siobhán", "Aoife", "Máire"],
        ["Ó Briain", "O'Connor", "Mac Giolla Phádraig", "Ní Dhomhnaill"],
    ),
    (
        1,
        ["Jürgen", "Matthias", "Søren", "Lars"],
        ["Åse", "Jördis", "Birgitta", "Solveig"],
        ["Weiß", "Müller", "Ødegård", "Ærøskøbing", "Groß-Schütte"],
    ),
    (
        1,
        ["Jean-Luc", "José", "Ramón", "François"],
        ["Élodie", "Inès", "Anne-Marie", "Begoña"],
        ["Dubois-Lefèvre", "García Márquez", "Núñez", "de la Peña"],
    ),
    (
        1,
        ["Piotr", "Ömer", "Kálmán", "Dražen"],
        ["Łucja", "Zsófia", "Şebnem", "Małgorzata"],
        ["Łukasiewicz", "Çelik", "Nowak", "Szőke"],
    ),
    (0.3, ["Γιώργος", "太郎"], ["Ελένη", "花子"], ["Νικολάου", "山田"]),
]
CULTURE_WEIGHTS = [culture[0] for culture in NAME_CULTURES]
# The first users, whatever the seed, so even a tiny list has names that break ASCII-only code.
SHOWCASE_USERS = [
    ("Zoë", "Ó Briain", "female"),
    ("Jürgen", "Weiß", "male"),
    ("Ærøskøbing", "Åse", "female"),
]
TITLES = ["Dr.", "Mr.", "Mrs.", "Ms.", "Msgr.", "Rev."]
# Letters that Unicode decomposition leaves alone but an email local part cannot hold.
ASCII_FOLDS = str.maketrans({"ß": "ss", "æ": "ae", "ø": "o", "œ": "oe", "ł": "l", "đ": "d"})
# GoRest fills titles and bodies with Latin filler like this.
LATIN_FILLER = """
a abbas absum accedo acer adeo adfectus adhuc admoveo adsum advenio aedificium aequitas aestas
ager alias alius altus amicitia amo angelus animus annus ante antiquus aperio apud aqua arbor
arca argentum arma ars astrum audax audeo aufero aureus aut autem auxilium avarus barba beatus
bellum bene bis bonus brevis cado caelum calculus campana canis capio caput carcer caritas
carmen causa caveo celer cena certe cetera cibus civis clam clarus coepi cogito comes cometes
conor contra copia cornu corpus cras credo creta crux cubo culpa cum cupio cura curia currus
custodia decet defero denique deus dignitas dolor domus donec dulcis ecce ego eius eo error
et etiam ex facilis fama fero fides filius finis fortis frater gratia habeo hic homo iam ipsa
ita iter laboro laudo lex liber locus magnus maneo mare mens metus miser modo mors multus
nam nemo nihil nobis non nox nunc odio omnis opus ordo pax per pectus porro quam quasi
quidem quis ratio rerum sapiente sed semper sino socius solus spes sub tamen tempus terra
totus tunc ubi ultra unde urbs usque valde vel verbum vero via video vigor vir vita volo vox
"""
LATIN_WORDS = LATIN_FILLER.split()
# GoRest gives every due date as midnight in its own zone (India), with milliseconds.
GOREST_UTC_OFFSET = "+05:30"
# Due dates are spread over two years from here: fixed, so a seed always gives the same todos.
FIRST_DUE_DATE = date(2026, 1, 1)
# Default posts/todos: one per user, comments: one per post, at most this many of each: GoRest
# keeps a few thousand of each, and a server started for a million users should start quickly.
MAX_DEFAULT_RELATED = 10_000


def generate_users(count: int, seed: int = 0, first_id: int = 7000001) -> list[dict]:
    """Deterministic GoRest-like users, realistic enough to break naive code.

    Ids are unique and increasing but not contiguous (GoRest deletes users), names mix scripts,
    apostrophes, hyphens and titles, and emails are unique lowercase ASCII built from the name.
    """
    rng = random.Random(seed)
    users: list[dict] = []
    emails: dict[str, int] = {}
    user_id = first_id
    for index in range(count):
        if index < len(SHOWCASE_USERS):
            first, last, gender = SHOWCASE_USERS[index]
            name = f"{first} {last}"
        else:
            first, last, gender = _person(rng)
            name = f"{first} {last}"
            if rng.random() < 0.1:
                name = f"{rng.choice(TITLES)} {name}"
        users.append(
            {
                "id": user_id,
                "name": name,
                "email": _unique_email(_ascii_slug(f"{first} {last}"), emails),
                "gender": gender,
                "status": "active" if rng.random() < 0.55 else "inactive",
            }
        )
        user_id = _next_id(rng, user_id)
    return users


def generate_posts(
    users: list[dict], count: int, seed: int = 0, first_id: int = 250001
) -> list[dict]:
    """Deterministic GoRest-like posts, each by one of `users` (none without users)."""
    rng = random.Random(f"posts:{seed}")
    user_ids = [user["id"] for user in users]
    posts: list[dict] = []
    post_id = first_id
    for _ in range(count if user_ids else 0):
        posts.append(
            {
                "id": post_id,
                "user_id": rng.choice(user_ids),
                "title": _sentence(rng, 3, 9),
                "body": _paragraph(rng, 2, 5),
            }
        )
        post_id = _next_id(rng, post_id)
    return posts


def generate_comments(
    posts: list[dict], count: int, seed: int = 0, first_id: int = 180001
) -> list[dict]:
    """Deterministic GoRest-like comments on `posts` (none without posts); commenters are not
    users, and one person may comment often, so names and emails repeat."""
    rng = random.Random(f"comments:{seed}")
    post_ids = [post["id"] for post in posts]
    comments: list[dict] = []
    comment_id = first_id
    for _ in range(count if post_ids else 0):
        first, last, _gender = _person(rng)
        comments.append(
            {
                "id": comment_id,
                "post_id": rng.choice(post_ids),
                "name": f"{first} {last}",
                "email": f"{_ascii_slug(f'{first} {last}')}@example.test",
                "body": _paragraph(rng, 1, 3),
            }
        )
        comment_id = _next_id(rng, comment_id)
    return comments


def generate_todos(
    users: list[dict], count: int, seed: int = 0, first_id: int = 110001
) -> list[dict]:
    """Deterministic GoRest-like todos, each of one of `users` (none without users), due at
    midnight GoRest time: "2026-12-03T00:00:00.000+05:30"."""
    rng = random.Random(f"todos:{seed}")
    user_ids = [user["id"] for user in users]
    todos: list[dict] = []
    todo_id = first_id
    for _ in range(count if user_ids else 0):
        due = FIRST_DUE_DATE + timedelta(days=rng.randrange(730))
        todos.append(
            {
                "id": todo_id,
                "user_id": rng.choice(user_ids),
                "title": _sentence(rng, 3, 9),
                "due_on": f"{due.isoformat()}T00:00:00.000{GOREST_UTC_OFFSET}",
                "status": "completed" if rng.random() < 0.5 else "pending",
            }
        )
        todo_id = _next_id(rng, todo_id)
    return todos


def generate_resources(
    users: list[dict],
    *,
    posts: int | None = None,
    comments: int | None = None,
    todos: int | None = None,
    seed: int = 0,
) -> dict[str, list[dict]]:
    """Posts, comments and todos whose foreign keys point at `users` and at each other, for
    `GoRestServer(users, resources=...)`; counts left out follow MAX_DEFAULT_RELATED."""
    if posts is None:
        posts = min(len(users), MAX_DEFAULT_RELATED)
    if todos is None:
        todos = min(len(users), MAX_DEFAULT_RELATED)
    post_list = generate_posts(users, posts, seed)
    if comments is None:
        comments = min(len(post_list), MAX_DEFAULT_RELATED)
    return {
        "posts": post_list,
        "comments": generate_comments(post_list, comments, seed),
        "todos": generate_todos(users, todos, seed),
    }


def _person(rng: random.Random) -> tuple[str, str, str]:
    """(first, last, gender), all from one culture so the name looks real."""
    _, male_names, female_names, family_names = rng.choices(NAME_CULTURES, CULTURE_WEIGHTS)[0]
    gender = rng.choice(("male", "female"))
    first = rng.choice(male_names if gender == "male" else female_names)
    return first, rng.choice(family_names), gender


def _next_id(rng: random.Random, current: int) -> int:
    """Increasing but not contiguous, like a GoRest list whose records get deleted."""
    return current + (1 if rng.random() < 0.85 else rng.randint(2, 4))


def _sentence(rng: random.Random, shortest: int, longest: int) -> str:
    return " ".join(rng.choices(LATIN_WORDS, k=rng.randint(shortest, longest))).capitalize() + "."


def _paragraph(rng: random.Random, shortest: int, longest: int) -> str:
    return " ".join(_sentence(rng, 4, 14) for _ in range(rng.randint(shortest, longest)))


def _ascii_slug(text: str) -> str:
    """'Zoë Ó Briain' -> 'zoe_o_briain'; scripts with no Latin letters fold to 'user'."""
    decomposed = unicodedata.normalize("NFKD", text.lower().translate(ASCII_FOLDS))
    letters = (ch for ch in decomposed if not unicodedata.combining(ch))
    words = "".join(ch if ch.isascii() and ch.isalnum() else " " for ch in letters).split()
    return "_".join(words) or "user"


def _unique_email(local: str, taken: dict[str, int]) -> str:
    """`name@example.test`, then `name2@...`, `name3@...`: a counter per name keeps a million
    users linear (names repeat a lot)."""
    count = taken.get(local, 0) + 1
    taken[local] = count
    return f"{local}@example.test" if count == 1 else f"{local}{count}@example.test"


@dataclass
class Faults:
    """Misbehaviour to inject; tests may change any field between requests.

    Every list gets the same faults, as one GoRest client shares one rate limit: a page number
    here means that page of whichever list is asked for. To fail one list only, serve it from a
    server of its own. Replacing `server.faults` with a fresh `Faults()` also resets the rate-limit
    window, so a shared server does not carry one test's spent budget into the next.
    """

    delay_seconds: float = 0.0
    # page -> statuses to answer with, one popped per request for that page, before serving it.
    statuses: dict[int, list[int]] = field(default_factory=dict)
    # page -> raw body served with status 200 and the normal headers instead of the JSON.
    bodies: dict[int, bytes] = field(default_factory=dict)
    # Requests for these pages get the connection closed without any response, every time.
    disconnect_pages: set[int] = field(default_factory=set)
    # Requests per sliding window (at least 1); None = unlimited.
    rate_limit: int | None = None
    window_seconds: float = 60.0
    # GoRest's per_page cap: above it, pages silently hold DEFAULT_PAGE_SIZE records. Lower it to
    # see what a client does when the cap changes under it.
    max_page_size: int = MAX_PAGE_SIZE
    _request_times: deque[float] = field(default_factory=deque, init=False, repr=False)


class _HTTPServer(ThreadingHTTPServer):
    """Tracks open connections so `stop()` can cut keep-alive clients off like a real outage."""

    daemon_threads = True

    def __init__(self, address: tuple[str, int], gorest: GoRestServer) -> None:
        self.gorest = gorest
        self.connections: set[socket.socket] = set()
        self.connections_lock = threading.Lock()
        super().__init__(address, _Handler)

    def server_bind(self) -> None:
        # HTTPServer.server_bind resolves the host's FQDN, which can stall on an offline machine.
        socketserver.TCPServer.server_bind(self)
        self.server_name, self.server_port = self.server_address[:2]

    def process_request(self, request: socket.socket, client_address: tuple[str, int]) -> None:
        with self.connections_lock:
            self.connections.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request: socket.socket) -> None:
        with self.connections_lock:
            self.connections.discard(request)
        super().shutdown_request(request)

    def handle_error(self, request: socket.socket, client_address: tuple[str, int]) -> None:
        # A client that timed out or a stop() mid-response is expected; anything else is a bug.
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)

    def close_connections(self) -> None:
        with self.connections_lock:
            connections = list(self.connections)
        for connection in connections:
            with contextlib.suppress(OSError):  # the client may have closed it already
                connection.shutdown(socket.SHUT_RDWR)


class GoRestServer:
    """GoRest v2's lists on 127.0.0.1, served live from `resources`, with `faults` applied.

    `users` (2751 generated ones by default) is served at `url`; `resources` may add posts,
    comments and todos (see `generate_resources`), any left out are served empty. Each list is
    `urls[name]` and `resources[name]`, and `users` is `resources["users"]`: replace or mutate
    any of them while serving. Binds on construction so the URLs are known at once (port 0 picks a
    free port); `start()` serves from a daemon thread. `on_request(page)` runs before any list
    request is answered, and every request is logged in `requests` as
    `{"path", "query", "headers", "status"}` (status None when the connection was dropped).
    """

    def __init__(
        self,
        users: list[dict] | None = None,
        *,
        resources: dict[str, list[dict]] | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        token: str | None = None,
        faults: Faults | None = None,
    ) -> None:
        others = resources or {}
        unknown = sorted(set(others) - set(RESOURCES[1:]))
        if unknown:
            raise ValueError(f"no such GoRest list besides users: {', '.join(unknown)}")
        self.resources: dict[str, list[dict]] = {name: others.get(name, []) for name in RESOURCES}
        self.users = generate_users(2751) if users is None else users
        self.token = token
        self.faults = faults or Faults()
        self.requests: list[dict] = []
        self.on_request: Callable[[int], None] | None = None
        self._lock = threading.Lock()
        self._httpd = _HTTPServer((host, port), self)
        base = f"http://{host}:{self._httpd.server_address[1]}{API_PATH}"
        self.urls = {name: f"{base}/{name}" for name in RESOURCES}
        self.url = self.urls["users"]
        self._thread: threading.Thread | None = None

    @property
    def users(self) -> list[dict]:
        return self.resources["users"]

    @users.setter
    def users(self, users: list[dict]) -> None:
        self.resources["users"] = users

    def start(self) -> GoRestServer:
        # A short poll interval makes stop() quick: tests start and stop one server each.
        self._thread = threading.Thread(
            target=self._httpd.serve_forever,
            kwargs={"poll_interval": 0.02},
            name="gorest-server",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop accepting, close the socket, and drop open keep-alive connections."""
        if self._thread is not None:
            self._httpd.shutdown()
            self._thread.join()
            self._thread = None
        self._httpd.server_close()
        self._httpd.close_connections()

    def __enter__(self) -> GoRestServer:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def _log_request(self, entry: dict) -> None:
        with self._lock:
            self.requests.append(entry)

    def _take_rate_slot(self, faults: Faults) -> tuple[bool, dict[str, str]]:
        """Count this request in the sliding window (429s count too, as on GoRest).

        Returns whether it is allowed and the X-RateLimit-* headers, Reset being the whole
        seconds until the next request would be allowed (0 while budget remains).
        """
        limit = faults.rate_limit
        if limit is None:
            return True, _rate_headers(UNLIMITED_RATE, UNLIMITED_RATE, 0)
        now = time.monotonic()
        with self._lock:
            times = faults._request_times
            while times and times[0] <= now - faults.window_seconds:
                times.popleft()
            allowed = len(times) < limit
            times.append(now)
            remaining = max(0, limit - len(times))
            reset = 0
            if remaining == 0:
                # The next request fits once all but limit - 1 of these have left the window.
                reset = math.ceil(times[len(times) - limit] + faults.window_seconds - now)
        return allowed, _rate_headers(limit, remaining, reset)

    def _pop_forced_status(self, faults: Faults, page: int) -> int | None:
        with self._lock:
            queue = faults.statuses.get(page)
            return queue.pop(0) if queue else None

    def _page_response(self, name: str, page: int, per_page: int) -> tuple[bytes, dict[str, str]]:
        """The JSON body and pagination headers of one page of a snapshot of list `name`."""
        listed = self.resources[name]  # no copy: a million users would cost 1M pointer copies
        total = len(listed)
        page_count = math.ceil(total / per_page)
        start = (page - 1) * per_page
        records = listed[start : start + per_page]
        body = json.dumps(records, ensure_ascii=False, separators=(",", ":"))
        url = self.urls[name]
        headers = {
            "X-Pagination-Total": str(total),
            "X-Pagination-Pages": str(page_count),
            "X-Pagination-Page": str(page),
            "X-Pagination-Limit": str(per_page),
            "X-Links-Current": _page_url(url, page, per_page),
            "X-Links-Next": _page_url(url, page + 1, per_page) if page < page_count else "",
            "X-Links-Previous": _page_url(url, page - 1, per_page) if page > 1 else "",
        }
        return body.encode("utf-8"), headers


def _page_url(url: str, page: int, per_page: int) -> str:
    # Like GoRest (Yii), per_page appears in links only when it is not the default.
    if per_page == DEFAULT_PAGE_SIZE:
        return f"{url}?page={page}"
    return f"{url}?page={page}&per_page={per_page}"


def _rate_headers(limit: int, remaining: int, reset: int) -> dict[str, str]:
    return {
        "X-RateLimit-Limit": str(limit),
        "X-RateLimit-Remaining": str(remaining),
        "X-RateLimit-Reset": str(reset),
    }


def _query_int(query: dict[str, str], name: str, default: int) -> int:
    """GoRest ignores a non-integer or non-positive page/per_page and uses the default."""
    try:
        value = int(query.get(name, default))
    except ValueError:
        return default
    return value if value >= 1 else default


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive: a client reuses one connection for many pages
    disable_nagle_algorithm = True  # headers and body go out in two writes
    server: _HTTPServer

    def log_message(self, format: str, *args: object) -> None:
        """Silenced: tests read `GoRestServer.requests` instead of stderr noise."""

    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
        """Malformed requests and unsupported methods get GoRest-style JSON errors too."""
        self.close_connection = True
        self._send(code, _error_body(code, message), {"Content-Type": JSON_TYPE})

    def do_GET(self) -> None:
        gorest = self.server.gorest
        faults = gorest.faults
        parts = urlsplit(self.path)
        query = dict(parse_qsl(parts.query, keep_blank_values=True))
        entry = {
            "path": parts.path,
            "query": query,
            "headers": {name.lower(): value for name, value in self.headers.items()},
            "status": None,
        }
        name = _list_name(parts.path)
        page = _query_int(query, "page", 1)
        if name is not None and gorest.on_request is not None:
            gorest.on_request(page)
        if faults.delay_seconds > 0:
            time.sleep(faults.delay_seconds)
        if name is not None and page in faults.disconnect_pages:
            gorest._log_request(entry)
            self.close_connection = True
            return
        status, body, headers = self._respond(gorest, faults, query, name, page)
        entry["status"] = status
        gorest._log_request(entry)
        self._send(status, body, headers)

    def _respond(
        self,
        gorest: GoRestServer,
        faults: Faults,
        query: dict[str, str],
        name: str | None,
        page: int,
    ) -> tuple[int, bytes, dict[str, str]]:
        """Status, body and headers, checked in GoRest's order: rate limit, auth, route."""
        allowed, headers = gorest._take_rate_slot(faults)
        headers["Content-Type"] = JSON_TYPE
        if not allowed:
            return 429, _error_body(429), headers
        expected_auth = f"Bearer {gorest.token}"
        if gorest.token is not None and self.headers.get("Authorization") != expected_auth:
            return 401, _error_body(401), headers
        if name is None:
            return 404, _error_body(404), headers
        forced = gorest._pop_forced_status(faults, page)
        if forced == 429:
            headers.update(X_RATELIMIT_EXHAUSTED)
        if forced is not None:
            return forced, _error_body(forced), headers
        per_page = _query_int(query, "per_page", DEFAULT_PAGE_SIZE)
        if per_page > faults.max_page_size:
            per_page = DEFAULT_PAGE_SIZE
        body, page_headers = gorest._page_response(name, page, per_page)
        headers.update(page_headers)
        override = faults.bodies.get(page)
        if override is not None:
            body = override
            headers["Content-Type"] = HTML_TYPE if override.startswith(b"<") else JSON_TYPE
        return 200, body, headers

    def _send(self, status: int, body: bytes, headers: dict[str, str]) -> None:
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


def _list_name(path: str) -> str | None:
    """'/public/v2/todos/' -> 'todos'; None for anything that is not one of the lists."""
    parent, _, name = path.rstrip("/").rpartition("/")
    return name if parent == API_PATH and name in RESOURCES else None


def _error_body(status: int, message: str | None = None) -> bytes:
    text = message or ERROR_MESSAGES.get(status) or STATUS_PHRASES.get(status, "Error")
    return json.dumps({"message": text}).encode("utf-8")


def main(argv: list[str] | None = None) -> int:
    """Serve until interrupted, or around one command that gets each list's URL in its env."""
    args = sys.argv[1:] if argv is None else argv
    command: list[str] = []
    if "--" in args:
        split = args.index("--")
        args, command = args[:split], args[split + 1 :]
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
    options = parser.parse_args(args)

    faults = Faults(rate_limit=options.rate_limit, delay_seconds=options.delay_ms / 1000)
    users = generate_users(options.users, seed=options.seed)
    resources = generate_resources(
        users,
        posts=options.posts,
        comments=options.comments,
        todos=options.todos,
        seed=options.seed,
    )
    server = GoRestServer(
        users, resources=resources, port=options.port, token=options.token, faults=faults
    )
    # SIGTERM (CI, docker stop) unwinds like Ctrl-C so the server and any command are cleaned up.
    signal.signal(signal.SIGTERM, _raise_keyboard_interrupt)
    # The first line's form is kept for scripts that read the users URL after its last " at ".
    announcement = "\n".join(
        f"GoRest-compatible server serving {len(listed)} {name} at {server.urls[name]}"
        for name, listed in server.resources.items()
    )
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


if __name__ == "__main__":
    sys.exit(main())
