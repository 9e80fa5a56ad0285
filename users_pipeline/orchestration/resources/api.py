"""The REST API of a source."""

import json
from typing import Any

import pydantic
from dagster import Config, InitResourceContext
from pydantic import Field

from users_pipeline.http.auth import AUTH_TYPES, auth_fields, make_auth
from users_pipeline.http.client import RestClient
from users_pipeline.http.endpoint import list_endpoint
from users_pipeline.orchestration.failures import failure_on_pipeline_error
from users_pipeline.orchestration.resources.source import SourceResource
from users_pipeline.settings import (
    DEFAULT_BACKOFF_SECONDS,
    DEFAULT_MAX_ATTEMPTS,
    DEFAULT_MAX_PAGE_BYTES,
    DEFAULT_PAGE_SIZE,
    DEFAULT_PAGINATOR,
    DEFAULT_TIMEOUT_SECONDS,
)

AuthConfig = pydantic.create_model(
    "AuthConfig",
    __base__=Config,
    __module__=__name__,
    __doc__="""How requests authenticate, in dlt's vocabulary (`http.auth.make_auth` checks the
    keys of each type); credentials are resolved from the environment when a run starts.""",
    type=(str, Field(description=", ".join(AUTH_TYPES))),
    **auth_fields(str),
)


class ApiResource(SourceResource):
    """A source's paginated REST list endpoint."""

    url: str = Field(description="The list endpoint, an http(s) URL")
    token: str | None = Field(default=None, description="Optional bearer token")
    paginator: str = Field(
        default=DEFAULT_PAGINATOR,
        description="The pagination style: its name, or a JSON object in dlt's vocabulary",
    )
    data_selector: str | None = Field(
        default=None, description="Where a body's records are (`data.items`); unset: the body"
    )
    params: dict[str, Any] = Field(default={}, description="Query parameters of every request")
    auth: AuthConfig | None = Field(  # type: ignore[valid-type]
        default=None, description="How requests authenticate"
    )
    page_size: int = Field(default=DEFAULT_PAGE_SIZE, description="Records asked for per page")
    timeout_seconds: float = Field(
        default=DEFAULT_TIMEOUT_SECONDS, description="Per-request timeout"
    )
    max_attempts: int = Field(default=DEFAULT_MAX_ATTEMPTS, description="Tries per page")
    backoff_seconds: float = Field(
        default=DEFAULT_BACKOFF_SECONDS, description="First retry wait; doubles each time"
    )
    max_page_bytes: int = Field(
        default=DEFAULT_MAX_PAGE_BYTES, description="Largest page body; a larger one fails"
    )
    concurrency: int | None = Field(
        default=None, description="Pages in flight; unset = from the rate limit"
    )
    requests_per_minute: int | None = Field(
        default=None, description="The rate the API allows if its headers state none"
    )

    @failure_on_pipeline_error()
    def setup_for_execution(self, context: InitResourceContext) -> None:
        self.get_client().close()  # validates url, pagination, attempts and concurrency

    def get_client(self, records_name: str = "records") -> RestClient:
        """A client whose messages call the records `records_name` (the source's name)."""
        names = self.setting_names
        return RestClient(
            self.url,
            auth=make_auth(self._auth_keys(), names, token=self.token),
            endpoint=list_endpoint(
                paginator_settings(self.paginator),
                names=names,
                page_size=self.page_size,
                params=self.params,
                data_selector=self.data_selector,
                concurrency=self.concurrency,
                requests_per_minute=self.requests_per_minute,
            ),
            timeout_seconds=self.timeout_seconds,
            max_attempts=self.max_attempts,
            backoff_seconds=self.backoff_seconds,
            max_page_bytes=self.max_page_bytes,
            setting_names=names,
            records_name=records_name,
        )

    def _auth_keys(self) -> dict[str, object] | None:
        return self.auth.model_dump(exclude_none=True) if self.auth else None


def paginator_settings(paginator: str) -> str | dict[str, object]:
    """A style's name, or its settings from their JSON (the launchpad shows them as one line)."""
    return json.loads(paginator) if paginator.lstrip().startswith("{") else paginator
