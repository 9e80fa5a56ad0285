"""GETs to one API's origin over `requests`, set up once per client.

`requests` reads proxies, NO_PROXY and CA bundles from the environment; it does so once here,
when the transport is made (`Session.merge_environment_settings`), and every request is sent by
a session that does not look again (`trust_env=False`). A `Session` is not documented as
thread-safe, so each fetching thread has its own.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable
from urllib.parse import unquote, urlencode, urljoin, urlsplit, urlunsplit

import requests
from requests.adapters import HTTPAdapter
from requests.auth import AuthBase, HTTPBasicAuth
from requests.utils import select_proxy

from users_pipeline.http.errors import ApiError
from users_pipeline.settings import SettingNames

BODY_CHUNK_BYTES = 256 * 1024
DEFAULT_PORTS = {"http": 80, "https": 443}
HEADERS = {"User-Agent": "users-pipeline/0.1", "Accept": "application/json"}


class NoResponse(Exception):
    """A request that got no usable response (refused, reset, cut body, TLS, proxy, timeout);
    the message is its one-line cause. Worth another attempt."""


@dataclass(frozen=True, slots=True)
class Response:
    status: int
    headers: Mapping[str, str]
    content: bytes


PostForm = Callable[[Mapping[str, str]], Response]


@runtime_checkable
class FetchesTokens(Protocol):
    """An auth that POSTs a form to `access_token_url` for its token. The transport lends it
    `post`, which goes through the fetching thread's session with the environment's settings
    for that URL: the token URL is the one origin other than the API's that gets a request."""

    access_token_url: str

    def use(self, post: PostForm) -> None: ...


def int_header(headers: Mapping[str, str], name: str) -> int | None:
    """A header's integer value; None when it is absent, empty or not a number."""
    value = headers.get(name)
    try:
        return int(value) if value not in (None, "") else None
    except ValueError:
        return None


def redact_url(url: str) -> str:
    """The URL with any user:password part replaced, safe for logs and errors."""
    parts = urlsplit(url)
    if parts.username is None and parts.password is None:
        return url
    host = parts.netloc.rpartition("@")[2]
    return urlunsplit((parts.scheme, f"***@{host}", parts.path, parts.query, parts.fragment))


def validate_url(url: str, names: SettingNames, key: str = "api.url") -> str:
    """Refuse anything but an absolute http(s) URL before a single request is made."""
    parts = urlsplit(url)
    try:
        port_ok = parts.port != 0
    except ValueError:  # not a number from 0 to 65535
        port_ok = False
    if parts.scheme not in ("http", "https") or not parts.hostname or not port_ok:
        raise ApiError(f"{names(key)} must be an http(s) URL, got {redact_url(url)!r}")
    return url


def origin(url: str) -> tuple[str, str, int | None]:
    """Scheme, host and port, the port filled in when the scheme implies it."""
    parts = urlsplit(url)
    try:
        port = parts.port
    except ValueError:
        port = None
    scheme = parts.scheme.lower()
    return scheme, (parts.hostname or "").lower(), port or DEFAULT_PORTS.get(scheme)


def without_credentials(url: str) -> str:
    """The URL as requested: credentials in it go in a header, never in the request line
    (a proxy logs that)."""
    parts = urlsplit(url)
    host = parts.netloc.rpartition("@")[2]
    return urlunsplit((parts.scheme, host, parts.path or "/", parts.query, ""))


def environment_settings(url: str) -> dict[str, Any]:
    """What `requests` would read from the environment for `url`: the proxies (NO_PROXY
    applied), and `verify`, REQUESTS_CA_BUNDLE or CURL_CA_BUNDLE when set."""
    with requests.Session() as session:
        settings = session.merge_environment_settings(url, {}, None, True, None)
    proxy = select_proxy(url, settings["proxies"])
    if proxy:
        try:  # refuse at once a proxy requests cannot use, e.g. socks5:// without PySocks
            HTTPAdapter().proxy_manager_for(proxy if "://" in proxy else f"http://{proxy}")
        except (requests.RequestException, ValueError) as error:
            raise ApiError(f"proxy {redact_url(proxy)} from the environment: {error}") from None
    return {"proxies": settings["proxies"], "verify": settings["verify"], "cert": settings["cert"]}


class Transport:
    """GETs to one API URL, with `auth`, or Basic auth from credentials in the URL (which win);
    redirects are never followed and a next URL only on the URL's origin, so the credentials
    go nowhere else; a body over `max_body_bytes` fails instead of filling memory."""

    def __init__(
        self,
        url: str,
        *,
        auth: AuthBase | None,
        timeout_seconds: float,
        max_body_bytes: int,
        names: SettingNames,
    ) -> None:
        self.display_url = redact_url(validate_url(url, names))
        self.timeout_seconds = timeout_seconds
        self.max_body_bytes = max_body_bytes
        self._names = names
        parts = urlsplit(url)
        if parts.username is not None or parts.password is not None:
            auth = HTTPBasicAuth(unquote(parts.username or ""), unquote(parts.password or ""))
        self.auth = auth
        self._url = without_credentials(url)
        self._origin = origin(url)
        self._settings = environment_settings(self._url)
        if isinstance(auth, FetchesTokens):
            token_settings = environment_settings(auth.access_token_url)
            auth.use(lambda form: self._send("POST", auth.access_token_url, token_settings, form))
        self._local = threading.local()
        self._sessions: list[requests.Session] = []
        self._sessions_lock = threading.Lock()

    def url_with(self, params: Mapping[str, object]) -> str:
        """The API URL with `params` added to its own query."""
        parts = urlsplit(self._url)
        query = "&".join(filter(None, [parts.query, urlencode(params)]))
        return urlunsplit((parts.scheme, parts.netloc, parts.path, query, ""))

    def follow(self, next_url: str, where: str) -> str:
        """A next URL from a response, relative ones joined to the API URL; one on another
        origin is refused, as the credentials would go with it."""
        url = urljoin(self._url, next_url)
        if origin(url) != self._origin:
            foreign = urlunsplit(urlsplit(redact_url(url))[:2] + ("", "", ""))
            raise ApiError(
                f"{where}: next URL on {foreign} not followed (credentials only go to"
                f" {self._names('api.url')})"
            )
        return without_credentials(url)

    def get(self, url: str, where: str) -> Response:
        """One GET of `url`, its body read whole; `NoResponse` when none usable came back."""
        return self._send("GET", url, self._settings, None, where)

    def close(self) -> None:
        """Close every thread's session."""
        with self._sessions_lock:
            for session in self._sessions:
                session.close()
            self._sessions.clear()
        self._local = threading.local()

    def _session(self) -> requests.Session:
        session = getattr(self._local, "session", None)
        if session is None:
            session = requests.Session()
            # Nothing from the environment at send time: it was read once, above. This also
            # keeps requests from reading ~/.netrc, whose login for the API's host would
            # replace our credentials.
            session.trust_env = False
            session.headers.update(HEADERS)
            self._local.session = session
            with self._sessions_lock:
                self._sessions.append(session)
        return session

    def _send(
        self,
        method: str,
        url: str,
        settings: Mapping[str, Any],
        form: Mapping[str, str] | None,
        where: str | None = None,
    ) -> Response:
        """A GET to the API with its auth, or the token POST of `form` with none."""
        try:
            with self._session().request(
                method,
                url,
                data=form,
                auth=self.auth if form is None else None,
                timeout=self.timeout_seconds,
                allow_redirects=False,
                stream=True,
                **settings,
            ) as response:
                content = self._read_body(response, where or f"{method} {redact_url(url)}")
        except requests.RequestException as error:
            url_key = "api.url" if form is None else "api.auth.access_token_url"
            raise NoResponse(self._cause(error, url_key)) from None
        return Response(response.status_code, response.headers, content)

    def _read_body(self, response: requests.Response, where: str) -> bytes:
        """The body, decompressed, at most `max_body_bytes` of it. A body read to its end
        leaves the connection to the next request; one left unread closes it."""
        chunks, size = [], 0
        for chunk in response.iter_content(BODY_CHUNK_BYTES):
            size += len(chunk)
            if size > self.max_body_bytes:
                limit = f"{self._names('api.max_page_bytes')}={self.max_body_bytes}"
                raise ApiError(f"{where}: body larger than {limit}")
            chunks.append(chunk)
        return b"".join(chunks)

    def _cause(self, error: requests.RequestException, url_key: str) -> str:
        """The cause of a request that got no usable response, for the one-line error."""
        # ConnectTimeout is also a ConnectionError: a timeout is reported as one.
        if isinstance(error, requests.Timeout):
            return f"timed out after {self.timeout_seconds:g} s"
        return f"cannot connect ({root_cause(error)}); check {self._names(url_key)}"


def root_cause(error: BaseException) -> str:
    """The innermost reason of a requests error, e.g. 'Connection refused': requests wraps
    urllib3's error, which wraps the socket's or the TLS library's."""
    seen = {id(error)}
    while True:
        wrapped = error.args[0] if error.args else None
        inner = next(
            (
                candidate
                for candidate in (wrapped, error.__cause__, error.__context__)
                if isinstance(candidate, BaseException) and id(candidate) not in seen
            ),
            None,
        )
        if inner is None:
            break
        seen.add(id(inner))
        error = inner
    text = str(error).splitlines()[0] if str(error) else type(error).__name__
    if "] " in text:  # "[Errno 111] Connection refused"
        text = text.split("] ", 1)[1]
    return text[:200]
