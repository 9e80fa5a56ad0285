"""A paginated REST source declared in YAML: the Dagster Component behind each `defs.yaml`.

One `defs.yaml` names a source, the environment variables it reads (see `yaml_model`) and its
record contract; the component builds that source's three assets, its daily job and schedule, and
its resources, keyed by the source's name so that sources never share a resource, a file, a key or
a table.
"""

from __future__ import annotations

import json
from pathlib import Path

import dagster as dg
from dagster._utils.schedules import is_valid_cron_string
from dagster_aws.s3 import S3Resource
from pydantic import ValidationError

from users_pipeline.components.scaffold import RestSourceScaffolder
from users_pipeline.components.schedule import daily_schedule
from users_pipeline.components.yaml_model import (
    ApiSettings,
    ArchiveSettings,
    AuthSettings,
    FieldModel,
    PaginatorSettings,
    PostgresSettings,
    ResourceKeys,
    Setting,
    SourceDefinitionError,
    check_auth,
)
from users_pipeline.contract.field import ContractError, Field
from users_pipeline.contract.record import RecordContract
from users_pipeline.http.endpoint import list_endpoint
from users_pipeline.http.errors import ApiError
from users_pipeline.orchestration.assets import build_assets
from users_pipeline.orchestration.config import Thresholds
from users_pipeline.orchestration.execution import executor
from users_pipeline.orchestration.names import SourceNames
from users_pipeline.orchestration.resources import (
    ApiResource,
    ArchiveResource,
    AuthConfig,
    PostgresResource,
)
from users_pipeline.settings import (
    DEFAULT_MAX_COUNT_CHANGE,
    DEFAULT_MAX_CRAWLS,
    DEFAULT_MAX_DELETE_SHARE,
    DEFAULT_MAX_REJECT_SHARE,
    DEFAULT_PAGINATOR,
    DEFAULT_SCHEDULE_CRON,
    GOREST_MAX_PAGE_SIZE,
    SettingNames,
)


@dg.scaffold_with(RestSourceScaffolder)
class RestSource(dg.Component, dg.Model, dg.Resolvable):
    """A paginated REST list ingested daily: API -> day file -> archive -> Postgres table."""

    name: str
    group: str | None = None
    api: ApiSettings
    archive: ArchiveSettings
    postgres: PostgresSettings
    schedule_cron: Setting = Setting(default=DEFAULT_SCHEDULE_CRON)
    resource_keys: ResourceKeys = ResourceKeys()
    max_crawls: int = DEFAULT_MAX_CRAWLS
    max_reject_share: float = DEFAULT_MAX_REJECT_SHARE
    max_delete_share: float = DEFAULT_MAX_DELETE_SHARE
    max_count_change: float = DEFAULT_MAX_COUNT_CHANGE
    # Whether a record absent from a complete crawl is marked deleted; unset, only where the
    # pagination style proves the crawl saw the whole list (it states a total).
    soft_deletes: bool | None = None
    record: list[FieldModel]  # type: ignore[valid-type]

    @property
    def contract(self) -> RecordContract:
        """The declared record; a wrong declaration fails here, naming the field."""
        return RecordContract(tuple(Field(**field.model_dump()) for field in self.record))

    @property
    def names(self) -> SourceNames:
        keys = self.resource_keys
        return SourceNames.of(self.name, keys.api, keys.archive, keys.postgres)

    def build_defs(self, context: dg.ComponentLoadContext) -> dg.Definitions:
        where = context.path / "defs.yaml"
        contract, cron = self._checked(where)
        thresholds = Thresholds(
            self.max_crawls,
            self.max_reject_share,
            self.soft_deletes,
            self.max_delete_share,
            self.max_count_change,
        )
        assets = build_assets(
            contract, self.names, self.group or self.name, thresholds, _importable_path(where)
        )
        job = dg.define_asset_job(
            f"{self.name}_daily",
            selection=assets,
            executor_def=executor(),
            description=f"Fetch, archive and load one day's {self.name} snapshot.",
        )
        return dg.Definitions(
            assets=assets,
            jobs=[job],
            schedules=[daily_schedule(self.name, job, cron)],
            resources=self.resources(where),
        )

    def _checked(self, where: Path) -> tuple[RecordContract, str]:
        """The contract and the cron, once the declaration is known to work; else one line
        naming the file and the key."""
        try:
            contract = self.contract
        except ContractError as error:
            raise SourceDefinitionError(f"{where}: record: {error}") from None
        for key, setting in self._settings():
            if setting.missing():
                raise SourceDefinitionError(
                    f"{where}: {key} is required, and none of {', '.join(setting.env)} is set"
                )
        try:
            self._check_api()
        except ApiError as error:
            raise SourceDefinitionError(f"{where}: {error}") from None
        cron = self.schedule_cron.text()
        if not is_valid_cron_string(cron):
            raise SourceDefinitionError(f"{where}: schedule_cron {cron!r} is not a cron schedule")
        return contract, cron

    def _check_api(self) -> None:
        """How the API is walked and read, checked before any run: no request is made, and the
        page size, a setting that may come from the environment, is checked when a run starts."""
        api, names = self.api, self.setting_names("api")
        list_endpoint(
            api.paginator,
            names=names,
            page_size=GOREST_MAX_PAGE_SIZE,
            params=api.params,
            data_selector=api.data_selector,
        )
        check_auth(api.auth, api.token, names)

    def _settings(self) -> list[tuple[str, Setting]]:
        """Every setting, with its key in the YAML (`api.url`)."""
        found = [("schedule_cron", self.schedule_cron)]
        for group in ("api", "archive", "postgres"):
            found += _settings_in(getattr(self, group), group)
        if self.api.auth:
            found += _settings_in(self.api.auth, "api.auth")
        return found

    def setting_names(self, group: str) -> SettingNames:
        """What the settings of `group` (api, archive, postgres) are called in messages: the
        first variable each is read from, keyed `group.field` (see `settings.SettingNames`)."""
        return SettingNames(
            {
                key: setting.env[0]
                for key, setting in self._settings()
                if key.startswith(f"{group}.") and setting.env
            }
        )

    def resources(self, where: Path) -> dict[str, object]:
        """The source's three resources, under its resource keys; a value of the wrong type
        fails here, naming its key in `where` (the defs.yaml)."""
        names = self.names
        built = {}
        for group, key, build in (
            ("api", names.api, self._api_resource),
            ("archive", names.archive, self._archive_resource),
            ("postgres", names.postgres, self._postgres_resource),
        ):
            try:
                built[key] = build()
            except ValidationError as error:
                first = error.errors()[0]
                field = ".".join(str(part) for part in first["loc"])
                raise SourceDefinitionError(f"{where}: {group}.{field}: {first['msg']}") from None
        return built

    def _api_resource(self) -> ApiResource:
        api = self.api
        return ApiResource.for_source(self.setting_names("api"))(
            url=api.url.value(),
            token=api.token.value(),
            paginator=_paginator_text(api.paginator),
            data_selector=api.data_selector,
            params=api.params,
            auth=_auth_config(api.auth),
            page_size=api.page_size.value(integer=True),
            max_attempts=api.max_attempts.value(integer=True),
            concurrency=api.concurrency.value(integer=True),
            requests_per_minute=api.requests_per_minute.value(integer=True),
            max_page_bytes=api.max_page_bytes.value(integer=True),
        )

    def _archive_resource(self) -> ArchiveResource:
        archive = self.archive
        return ArchiveResource.for_source(self.setting_names("archive"))(
            s3=S3Resource(
                endpoint_url=archive.endpoint_url.value(),
                region_name=archive.region.value(),
                aws_access_key_id=archive.access_key_id.value(),
                aws_secret_access_key=archive.secret_access_key.value(),
                aws_session_token=archive.session_token.value(),
            ),
            bucket=archive.bucket.value(),
            prefix=archive.prefix.value(),
            gzip=archive.gzip.flag(),
        )

    def _postgres_resource(self) -> PostgresResource:
        postgres = self.postgres
        return PostgresResource.for_source(self.setting_names("postgres"))(
            database_url=postgres.database_url.value(),
            host=postgres.host.value(),
            port=postgres.port.value(integer=True),
            user=postgres.user.value(),
            password=postgres.password.value(),
            dbname=postgres.dbname.value(),
            table=postgres.table.value(),
        )


def _importable_path(path: Path) -> str:
    """`path` from the folder its package is imported from (`users_pipeline/sources/users/
    defs.yaml`): the same on every machine, unlike the absolute path."""
    packages = [folder for folder in path.parents if (folder / "__init__.py").exists()]
    return str(path.relative_to(packages[-1].parent)) if packages else str(path)


def _settings_in(model: dg.Model, group: str) -> list[tuple[str, Setting]]:
    """The settings among a YAML group's keys, each with its key (`api.auth.api_key`)."""
    return [(f"{group}.{key}", value) for key, value in model if isinstance(value, Setting)]


def _paginator_text(paginator: str | PaginatorSettings | None) -> str:
    """The style as the API resource holds it: its name, or its settings as JSON."""
    if paginator is None:
        return DEFAULT_PAGINATOR
    return paginator if isinstance(paginator, str) else json.dumps(paginator)


def _auth_config(auth: AuthSettings | None) -> AuthConfig | None:  # type: ignore[valid-type]
    """The auth with each credential read from its environment variables when a run starts."""
    if auth is None:
        return None
    given = {
        key: value.value(integer=False) if isinstance(value, Setting) else value
        for key, value in auth.given().items()
    }
    return AuthConfig(**given)
