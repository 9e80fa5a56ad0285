"""A paginated REST source declared in YAML: the Dagster Component behind each `defs.yaml`.

One `defs.yaml` names a source, the environment variables it reads and its record contract; the
component builds that source's three assets, its daily job and schedule, and its resources,
keyed by the source's name so that sources never share a resource, a file, a key or a table.
Settings are `EnvVar`s resolved when a run starts (masked in the UI), so a secret never sits in
YAML and an unset optional variable falls back to the declared default.
"""

from __future__ import annotations

import dataclasses
import os
import typing
from datetime import timezone
from pathlib import Path
from typing import Literal

import dagster as dg
import pydantic
from dagster._utils.schedules import is_valid_cron_string
from dagster_aws.s3 import S3Resource
from pydantic import ValidationError

from users_pipeline.contract.record import FIELD_TYPES, ContractError, Field, RecordContract
from users_pipeline.errors import PipelineError
from users_pipeline.http.client import (
    DEFAULT_MAX_ATTEMPTS,
    DEFAULT_MAX_PAGE_BYTES,
    MAX_PAGE_SIZE,
)
from users_pipeline.orchestration.assets import SourceNames, Thresholds, build_assets
from users_pipeline.orchestration.execution import executor
from users_pipeline.orchestration.resources import (
    ArchiveResource,
    ClockResource,
    PostgresResource,
    UsersApiResource,
)
from users_pipeline.snapshot.days import stale_tick_reason

DATA_DIR_SETTING = "USERS_PIPELINE_DATA_DIR"


def data_dir() -> Path:
    """Where day files land and the embedded defaults live, for every source."""
    return Path(os.environ.get(DATA_DIR_SETTING) or ".data")


class SourceDefinitionError(PipelineError):
    """A `defs.yaml` that cannot define a source; the message names the file and the key."""


class Setting(dg.Model):
    """A value read from the first of `env` that is set, else `default`. A `required` setting
    with none of its variables set stops the definitions from loading."""

    env: list[str] = []
    default: str | int | bool | None = None
    required: bool = False

    def missing(self) -> bool:
        return self.required and not any(os.environ.get(name) for name in self.env)

    def value(self, integer: bool = False) -> object:
        for name in self.env:
            if os.environ.get(name):
                return dg.EnvVar.int(name) if integer else dg.EnvVar(name)
        return self.default

    def text(self) -> str:
        """The value as text, read when the definitions load (for what cannot wait for a run,
        such as a schedule's cron)."""
        return str(next((os.environ[n] for n in self.env if os.environ.get(n)), self.default))

    def flag(self) -> bool:
        """A yes/no setting (`1`, `true`, `yes`), read when the definitions load."""
        return self.text().lower() in ("1", "true", "yes")


def _setting(*env: str, default: str | int | bool | None = None) -> Setting:
    return Setting(env=list(env), default=default)


class ApiSettings(dg.Model):
    url: Setting
    token: Setting = Setting()
    page_size: Setting = Setting(default=MAX_PAGE_SIZE)
    max_attempts: Setting = Setting(default=DEFAULT_MAX_ATTEMPTS)
    concurrency: Setting = Setting()
    max_page_bytes: Setting = Setting(default=DEFAULT_MAX_PAGE_BYTES)


class ArchiveSettings(dg.Model):
    """The archive; every source may share a bucket, never a prefix."""

    prefix: Setting
    bucket: Setting = _setting("S3_BUCKET")
    endpoint_url: Setting = _setting("S3_ENDPOINT_URL")
    region: Setting = _setting("AWS_REGION")
    access_key_id: Setting = _setting("AWS_ACCESS_KEY_ID")
    secret_access_key: Setting = _setting("AWS_SECRET_ACCESS_KEY")
    session_token: Setting = _setting("AWS_SESSION_TOKEN")
    gzip: Setting = _setting("ARCHIVE_GZIP", default=False)


class PostgresSettings(dg.Model):
    """The database; every source may share a server, never a table."""

    table: Setting
    database_url: Setting = _setting("DATABASE_URL")
    host: Setting = _setting("PG_HOST")
    port: Setting = _setting("PG_PORT")
    user: Setting = _setting("PG_USER")
    password: Setting = _setting("PG_PASS")
    dbname: Setting = _setting("PG_DB")


class ResourceKeys(dg.Model):
    """The keys of the source's resources; by default `<name>_api`, `<name>_archive`,
    `<name>_postgres`."""

    api: str | None = None
    archive: str | None = None
    postgres: str | None = None


def _field_model() -> type[dg.Model]:
    """`contract.Field`'s attributes as the YAML schema of one field: one list of attributes,
    with `type` spelled out so that a wrong type names the ones allowed."""
    hints = typing.get_type_hints(Field)
    hints["type"] = Literal[FIELD_TYPES]
    hints["values"] = list[str]  # YAML has lists; Field keeps them as a tuple
    spec = {
        attribute.name: (
            hints[attribute.name],
            ... if attribute.default is dataclasses.MISSING else _yaml_default(attribute.default),
        )
        for attribute in dataclasses.fields(Field)
    }
    return pydantic.create_model("FieldModel", __base__=dg.Model, **spec)


def _yaml_default(value: object) -> object:
    return list(value) if isinstance(value, tuple) else value


FieldModel = _field_model()


class RestSource(dg.Component, dg.Model, dg.Resolvable):
    """A paginated REST list ingested daily: API -> day file -> archive -> Postgres table."""

    name: str
    group: str | None = None
    api: ApiSettings
    archive: ArchiveSettings
    postgres: PostgresSettings
    schedule_cron: Setting = Setting(default="15 0 * * *")
    resource_keys: ResourceKeys = ResourceKeys()
    max_crawls: int = Thresholds.max_crawls
    max_reject_share: float = Thresholds.max_reject_share
    record: list[FieldModel]  # type: ignore[valid-type]

    @property
    def contract(self) -> RecordContract:
        """The declared record; a wrong declaration fails here, naming the field."""
        return RecordContract(tuple(Field(**field.model_dump()) for field in self.record))

    @property
    def names(self) -> SourceNames:
        keys = self.resource_keys
        return SourceNames(
            self.name,
            api=keys.api or f"{self.name}_api",
            archive=keys.archive or f"{self.name}_archive",
            postgres=keys.postgres or f"{self.name}_postgres",
        )

    def build_defs(self, context: dg.ComponentLoadContext) -> dg.Definitions:
        where = context.path / "defs.yaml"
        contract, cron = self._checked(where)
        names = self.names
        thresholds = Thresholds(self.max_crawls, self.max_reject_share)
        assets = build_assets(contract, names, self.group or self.name, thresholds)
        job = dg.define_asset_job(
            f"{self.name}_daily",
            selection=assets,
            executor_def=executor(),
            description=f"Fetch, archive and load one day's {self.name} snapshot.",
        )
        try:
            resources = self.resources(names)
        except ValidationError as error:
            first = error.errors()[0]
            field = ".".join(str(part) for part in first["loc"])
            raise SourceDefinitionError(f"{where}: {error.title}.{field}: {first['msg']}") from None
        return dg.Definitions(
            assets=assets,
            jobs=[job],
            schedules=[daily_schedule(self.name, job, cron)],
            resources=resources,
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
        cron = self.schedule_cron.text()
        if not is_valid_cron_string(cron):
            raise SourceDefinitionError(f"{where}: schedule_cron {cron!r} is not a cron schedule")
        return contract, cron

    def _settings(self) -> list[tuple[str, Setting]]:
        """Every setting, with its key in the YAML (`api.url`)."""
        found = [("schedule_cron", self.schedule_cron)]
        for group in ("api", "archive", "postgres"):
            model = getattr(self, group)
            names = type(model).model_fields
            found += [(f"{group}.{name}", getattr(model, name)) for name in names]
        return found

    def setting_names(self, group: str) -> dict[str, str]:
        """What the settings of `group` (api, archive, postgres) are called in messages: the
        first variable each is read from, keyed `group.field` (see `settings.SettingNames`)."""
        return {
            key: setting.env[0]
            for key, setting in self._settings()
            if key.startswith(f"{group}.") and setting.env
        }

    def resources(self, names: SourceNames) -> dict[str, object]:
        api, archive, postgres, root = self.api, self.archive, self.postgres, data_dir()
        return {
            names.api: UsersApiResource(
                setting_names=self.setting_names("api"),
                url=api.url.value(),
                token=api.token.value(),
                page_size=api.page_size.value(integer=True),
                max_attempts=api.max_attempts.value(integer=True),
                concurrency=api.concurrency.value(integer=True),
                max_page_bytes=api.max_page_bytes.value(integer=True),
            ),
            names.archive: ArchiveResource(
                setting_names=self.setting_names("archive"),
                s3=S3Resource(
                    endpoint_url=archive.endpoint_url.value(),
                    region_name=archive.region.value(),
                    aws_access_key_id=archive.access_key_id.value(),
                    aws_secret_access_key=archive.secret_access_key.value(),
                    aws_session_token=archive.session_token.value(),
                ),
                bucket=archive.bucket.value(),
                prefix=archive.prefix.value(),
                local_dir=str(root / "archive"),
                gzip=archive.gzip.flag(),
            ),
            names.postgres: PostgresResource(
                setting_names=self.setting_names("postgres"),
                database_url=postgres.database_url.value(),
                host=postgres.host.value(),
                port=postgres.port.value(integer=True),
                user=postgres.user.value(),
                password=postgres.password.value(),
                dbname=postgres.dbname.value(),
                table=postgres.table.value(),
                embedded_dir=str(root / "postgres"),
            ),
        }


def daily_schedule(source: str, job: dg.UnresolvedAssetJobDefinition, cron: str):
    """Each day at `cron` (UTC), the source's job for the tick's own day."""
    name = f"{source}_daily_schedule"

    @dg.schedule(
        name=name,
        job=job,
        cron_schedule=cron,
        execution_timezone="UTC",
        default_status=dg.DefaultScheduleStatus.RUNNING,
        description=f"Each day at {cron} (UTC), snapshot the {source} API for that day.",
    )
    def _schedule(
        context: dg.ScheduleEvaluationContext, clock: ClockResource
    ) -> dg.RunRequest | dg.SkipReason:
        """The tick's own date is the day to snapshot. A tick evaluated after its day ended
        (late, or caught up after an outage) is skipped: that day can no longer be fetched. A
        day that already has a queued, running or successful scheduled run is skipped, so a
        frequent cron does not fetch the API again."""
        tick_day = context.scheduled_execution_time.astimezone(timezone.utc).date()
        stale = stale_tick_reason(tick_day, clock.today())
        if stale:
            return dg.SkipReason(stale)
        day = tick_day.isoformat()
        earlier = context.instance.get_runs(
            dg.RunsFilter(
                tags={"dagster/schedule_name": name, "dagster/partition": day},
                statuses=[
                    dg.DagsterRunStatus.QUEUED,
                    dg.DagsterRunStatus.NOT_STARTED,
                    dg.DagsterRunStatus.STARTING,
                    dg.DagsterRunStatus.STARTED,
                    dg.DagsterRunStatus.SUCCESS,
                ],
            ),
            limit=1,
        )
        if earlier:
            return dg.SkipReason(f"{day} already has run {earlier[0].run_id}")
        return dg.RunRequest(run_key=f"{source}-{day}", partition_key=day)

    return _schedule
