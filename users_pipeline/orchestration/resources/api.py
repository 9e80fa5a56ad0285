"""The REST API of a source."""

from dagster import ConfigurableResource, InitResourceContext
from pydantic import Field

from users_pipeline.http.client import (
    DEFAULT_MAX_ATTEMPTS,
    DEFAULT_MAX_PAGE_BYTES,
    DEFAULT_USERS_API_URL,
    MAX_PAGE_SIZE,
    UsersApiClient,
)
from users_pipeline.orchestration.failures import failure_on_pipeline_error


class UsersApiResource(ConfigurableResource):
    """The users REST API (GoRest v2 or compatible)."""

    setting_names: dict[str, str] = Field(
        default={}, description="What each setting is called in messages (its variable)"
    )
    url: str = Field(default=DEFAULT_USERS_API_URL, description="USERS_API_URL")
    token: str | None = Field(default=None, description="USERS_API_TOKEN: optional bearer token")
    page_size: int = Field(default=MAX_PAGE_SIZE, description="USERS_API_PAGE_SIZE: at most 100")
    timeout_seconds: float = Field(default=30.0, description="Per-request timeout")
    max_attempts: int = Field(
        default=DEFAULT_MAX_ATTEMPTS, description="USERS_API_MAX_ATTEMPTS: tries per page"
    )
    backoff_seconds: float = Field(default=1.0, description="First retry wait; doubles each time")
    max_page_bytes: int = Field(
        default=DEFAULT_MAX_PAGE_BYTES, description="USERS_API_MAX_PAGE_BYTES: larger bodies fail"
    )
    concurrency: int | None = Field(
        default=None, description="USERS_API_CONCURRENCY: pages in flight; unset = from rate limit"
    )

    @failure_on_pipeline_error()
    def setup_for_execution(self, context: InitResourceContext) -> None:
        self.get_client().close()  # validates url, page size and attempts

    def get_client(self) -> UsersApiClient:
        return UsersApiClient(
            self.url,
            token=self.token,
            page_size=self.page_size,
            timeout_seconds=self.timeout_seconds,
            max_attempts=self.max_attempts,
            backoff_seconds=self.backoff_seconds,
            concurrency=self.concurrency,
            max_page_bytes=self.max_page_bytes,
        )


