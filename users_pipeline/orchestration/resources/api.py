"""The REST API of a source."""

from dagster import ConfigurableResource, InitResourceContext
from pydantic import Field

from users_pipeline.http.client import RestClient
from users_pipeline.orchestration.failures import failure_on_pipeline_error
from users_pipeline.settings import (
    DEFAULT_BACKOFF_SECONDS,
    DEFAULT_MAX_ATTEMPTS,
    DEFAULT_MAX_PAGE_BYTES,
    DEFAULT_PAGE_SIZE,
    DEFAULT_PAGINATOR,
    DEFAULT_TIMEOUT_SECONDS,
    SettingNames,
)


class ApiResource(ConfigurableResource):
    """A source's paginated REST list endpoint."""

    setting_names: dict[str, str] = Field(
        default={}, description="What each setting is called in messages (its variable)"
    )
    url: str = Field(description="The list endpoint, an http(s) URL")
    token: str | None = Field(default=None, description="Optional bearer token")
    paginator: str = Field(default=DEFAULT_PAGINATOR, description="The pagination style's name")
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

    @failure_on_pipeline_error()
    def setup_for_execution(self, context: InitResourceContext) -> None:
        self.get_client().close()  # validates url, pagination, attempts and concurrency

    def get_client(self, records_name: str = "records") -> RestClient:
        """A client whose messages call the records `records_name` (the source's name)."""
        return RestClient(
            self.url,
            token=self.token,
            paginator=self.paginator,
            page_size=self.page_size,
            timeout_seconds=self.timeout_seconds,
            max_attempts=self.max_attempts,
            backoff_seconds=self.backoff_seconds,
            concurrency=self.concurrency,
            max_page_bytes=self.max_page_bytes,
            setting_names=SettingNames(self.setting_names),
            records_name=records_name,
        )
