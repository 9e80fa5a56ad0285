"""The API's credentials: `requests` auth classes, with dlt's type names, keys and defaults, so a
dlt user's `auth:` block carries over unchanged.

`make_auth` builds one from a source's `api.auth` settings and refuses, in one line naming the
key, an unknown type, a missing key or one that does not belong to the type; it needs no
network, so definitions are checked with it when they load. `AUTH_TYPES` says which keys each
type takes and which of them are secrets. No message names a secret's value, only its setting.
"""

from __future__ import annotations

import threading
import time
import typing
from collections.abc import Callable, Mapping
from typing import Any, ClassVar

import orjson
from requests import PreparedRequest
from requests.auth import AuthBase, _basic_auth_str

from users_pipeline.http.errors import ApiError
from users_pipeline.http.transport import NoResponse, PostForm, redact_url, validate_url
from users_pipeline.settings import SettingNames

API_KEY_LOCATIONS = ("header", "query", "param", "cookie")  # dlt's; "param" is "query"
# dlt's defaults.
DEFAULT_API_KEY_NAME = "Authorization"
DEFAULT_TOKEN_EXPIRATION_SECONDS = 3600
YAML_KEYS = SettingNames()  # messages name each setting by its key, e.g. api.auth.token


class ApiAuth(AuthBase):
    """An auth type: its name in `api.auth.type`, the keys it takes, which of them are secrets,
    and the settings a refused request names."""

    type_name: ClassVar[str]
    required: ClassVar[tuple[str, ...]]
    optional: ClassVar[tuple[str, ...]] = ()
    secrets: ClassVar[frozenset[str]]
    credentials: ClassVar[tuple[str, ...]]

    def __init__(self, names: SettingNames) -> None:
        self.names = names

    def refused(self) -> str:
        """What a 401 or 403 asks to check, e.g. 'check CUSTOMERS_KEY (api_key auth)'."""
        return f"check {self.setting_names(self.credentials)} ({self.type_name} auth)"

    def setting_names(self, keys: tuple[str, ...]) -> str:
        return " / ".join(dict.fromkeys(self.names(f"api.auth.{key}") for key in keys))


class BearerTokenAuth(ApiAuth):
    """`Authorization: Bearer <token>`."""

    type_name = "bearer"
    required = ("token",)
    secrets = frozenset({"token"})
    credentials = ("token",)

    def __init__(self, *, token: str, names: SettingNames = YAML_KEYS) -> None:
        super().__init__(names)
        self._token = token

    def __call__(self, request: PreparedRequest) -> PreparedRequest:
        request.headers["Authorization"] = f"Bearer {self._token}"
        return request


class APIKeyAuth(ApiAuth):
    """The key under `name` in a header, the query or a cookie, by `location`."""

    type_name = "api_key"
    required = ("api_key",)
    optional = ("name", "location")
    secrets = frozenset({"api_key"})
    credentials = ("api_key",)

    def __init__(
        self,
        *,
        api_key: str,
        name: str = DEFAULT_API_KEY_NAME,
        location: str = "header",
        names: SettingNames = YAML_KEYS,
    ) -> None:
        super().__init__(names)
        if location not in API_KEY_LOCATIONS:
            raise ApiError(
                f"{names('api.auth.location')} must be one of {', '.join(API_KEY_LOCATIONS)},"
                f" got {location!r}"
            )
        self._api_key = api_key
        self.name = name
        self.location = location

    def __call__(self, request: PreparedRequest) -> PreparedRequest:
        if self.location == "header":
            request.headers[self.name] = self._api_key
        elif self.location == "cookie":
            cookie = f"{self.name}={self._api_key}"
            earlier = request.headers.get("Cookie")
            request.headers["Cookie"] = f"{earlier}; {cookie}" if earlier else cookie
        else:
            request.prepare_url(request.url, {self.name: self._api_key})
        return request


class HttpBasicAuth(ApiAuth):
    """HTTP Basic auth."""

    type_name = "http_basic"
    required = ("username", "password")
    secrets = frozenset({"password"})
    credentials = ("username", "password")

    def __init__(self, *, username: str, password: str, names: SettingNames = YAML_KEYS) -> None:
        super().__init__(names)
        self._header = _basic_auth_str(username, password)

    def __call__(self, request: PreparedRequest) -> PreparedRequest:
        request.headers["Authorization"] = self._header
        return request


class OAuth2ClientCredentials(ApiAuth):
    """OAuth2's client credentials grant, as dlt sends it: a form POST to `access_token_url`
    of `grant_type=client_credentials`, `client_id` and `client_secret` in the body (not as
    Basic auth), and `access_token_request_data` (a scope, say); then `Bearer <access_token>`.

    The token is fetched at the first request, reused until `expires_in` (else
    `default_token_expiration`) seconds of `clock` have passed, and fetched again on the
    first request after. After a 401, `renew()` drops it, so the retry fetches another: a
    token revoked early does not fail the crawl. Fetching threads share one instance; one of
    them fetches while the others wait.
    """

    type_name = "oauth2_client_credentials"
    required = ("access_token_url", "client_id", "client_secret")
    optional = ("access_token_request_data", "default_token_expiration")
    secrets = frozenset({"client_id", "client_secret"})
    credentials = ("client_id", "client_secret")

    def __init__(
        self,
        *,
        access_token_url: str,
        client_id: str,
        client_secret: str,
        access_token_request_data: Mapping[str, str] | None = None,
        default_token_expiration: int = DEFAULT_TOKEN_EXPIRATION_SECONDS,
        names: SettingNames = YAML_KEYS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        super().__init__(names)
        self.access_token_url = validate_url(access_token_url, names, "api.auth.access_token_url")
        if not isinstance(access_token_request_data, Mapping | None):
            raise ApiError(f"{names('api.auth.access_token_request_data')} must be a mapping")
        if isinstance(default_token_expiration, bool) or not isinstance(
            default_token_expiration, int
        ):
            raise ApiError(f"{names('api.auth.default_token_expiration')} must be whole seconds")
        self.default_token_expiration = default_token_expiration
        self._form = {
            "grant_type": "client_credentials",
            "client_id": client_id,
            "client_secret": client_secret,
            **{key: str(value) for key, value in (access_token_request_data or {}).items()},
        }
        self._secrets = (client_id, client_secret)
        self._clock = clock
        self._post: PostForm | None = None
        self._lock = threading.Lock()
        self._token: str | None = None
        self._expires_at = 0.0
        self._sent = threading.local()  # the token this thread sent last

    def use(self, post: PostForm) -> None:
        """Fetch tokens with `post` (the transport's, so its proxy and CA settings apply)."""
        self._post = post

    def __call__(self, request: PreparedRequest) -> PreparedRequest:
        with self._lock:
            if self._token is None or self._clock() >= self._expires_at:
                self._token, self._expires_at = self._fetch()
            self._sent.token = self._token
        request.headers["Authorization"] = f"Bearer {self._token}"
        return request

    def renew(self) -> None:
        """Drop the token this thread sent, unless another thread has replaced it already:
        the next request fetches a new one."""
        with self._lock:
            if self._token == getattr(self._sent, "token", None):
                self._token = None

    def _fetch(self) -> tuple[str, float]:
        """A new token and the `clock` time it expires."""
        if self._post is None:
            raise RuntimeError("OAuth2ClientCredentials used outside a Transport")
        endpoint = f"{self.type_name}: the token endpoint {redact_url(self.access_token_url)}"
        started = self._clock()
        try:
            response = self._post(self._form)
        except NoResponse as failure:
            raise NoResponse(f"{endpoint}: {failure}") from None
        if response.status == 429 or response.status >= 500:
            raise NoResponse(f"{endpoint}: HTTP {response.status}")
        body = json_object(response.content)
        if response.status != 200:
            raise ApiError(
                f"{endpoint} refused {self.setting_names(self.credentials)}:"
                f" HTTP {response.status}{self._error_code(body)}"
            )
        token = body.get("access_token")
        if not isinstance(token, str) or not token:
            raise ApiError(f"{endpoint} returned no access_token (HTTP {response.status})")
        expires_in = body.get("expires_in", self.default_token_expiration)
        try:
            seconds = float(expires_in)
        except (TypeError, ValueError):
            seconds = self.default_token_expiration
        return token, started + seconds

    def _error_code(self, body: Mapping[str, Any]) -> str:
        """The OAuth2 `error` code ('invalid_client'), never anything that holds a secret."""
        code = body.get("error")
        if not isinstance(code, str) or not code or any(s and s in code for s in self._secrets):
            return ""
        return f" {code[:100]!r}"


def json_object(content: bytes) -> Mapping[str, Any]:
    try:
        body = orjson.loads(content)
    except orjson.JSONDecodeError:
        return {}
    return body if isinstance(body, dict) else {}


AUTH_TYPES: Mapping[str, type[ApiAuth]] = {
    auth.type_name: auth
    for auth in (BearerTokenAuth, APIKeyAuth, HttpBasicAuth, OAuth2ClientCredentials)
}


def auth_fields(setting: object) -> dict[str, tuple[object, None]]:
    """Every key an `api.auth` block may hold, whatever its type, as optional fields of a
    pydantic model. A type's required keys (its credentials and their endpoint) take `setting`,
    so they may be read from the environment; its optional keys are values, as the type takes
    them."""
    fields: dict[str, tuple[object, None]] = {}
    for auth in AUTH_TYPES.values():
        takes = typing.get_type_hints(auth.__init__)
        fields |= {key: (setting | None, None) for key in auth.required}
        fields |= {key: (takes[key] | None, None) for key in auth.optional}
    return fields


def make_auth(
    config: Mapping[str, object] | None, names: SettingNames, *, token: str | None = None
) -> ApiAuth | None:
    """The auth `config` (`api.auth`: a `type` and that type's keys) describes.

    Without `config`, `token` (the `api.token` setting, older than `api.auth`) is a bearer
    token, and a refused request names `api.token`; with neither, requests carry no auth.
    """
    if config is None:
        if not token:
            return None
        legacy = SettingNames({"api.auth.token": names("api.token")})
        return BearerTokenAuth(token=token, names=legacy)
    if token:
        raise ApiError(f"set {names('api.token')} or {names('api.auth.type')}, not both")
    known = ", ".join(AUTH_TYPES)
    type_name = config.get("type")
    if type_name not in AUTH_TYPES:
        got = "missing" if type_name is None else f"got {type_name!r}"
        raise ApiError(f"{names('api.auth.type')} must be one of {known}; {got}")
    auth = AUTH_TYPES[str(type_name)]
    settings = {key: value for key, value in config.items() if key != "type"}
    allowed = auth.required + auth.optional
    for key in settings:
        if key not in allowed:
            raise ApiError(
                f"{names(f'api.auth.{key}')} does not belong to {type_name} auth;"
                f" its keys: {', '.join(allowed)}"
            )
    for key in auth.required:
        if settings.get(key) is None:
            raise ApiError(f"{names(f'api.auth.{key}')} is required for {type_name} auth")
    return auth(**settings, names=names)  # type: ignore[arg-type]


def refusal_hint(auth: AuthBase | None, names: SettingNames) -> str:
    """What a 401 or 403 asks to check, whatever sent the request's credentials."""
    if isinstance(auth, ApiAuth):
        return auth.refused()
    if auth is None:
        return f"no credentials were sent; set {names('api.auth.type')}"
    return f"check the credentials in {names('api.url')}"  # user:password@ in the URL
