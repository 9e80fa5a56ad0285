"""The YAML of a source: the settings it reads from the environment and its record's fields.

A setting names the environment variables it is read from (the first that is set wins) and a
default. Settings become `EnvVar`s resolved when a run starts (masked in the UI), so a secret
never sits in YAML; a few that cannot wait for a run (the cron) are read when the definitions
load.
"""

from __future__ import annotations

import dataclasses
import os
import typing
from typing import Any, Literal

import dagster as dg
import pydantic

from users_pipeline.contract.field import FIELD_TYPES, Field
from users_pipeline.errors import PipelineError
from users_pipeline.http.auth import AUTH_TYPES, auth_fields, make_auth
from users_pipeline.http.errors import ApiError
from users_pipeline.settings import (
    DEFAULT_MAX_ATTEMPTS,
    DEFAULT_MAX_PAGE_BYTES,
    DEFAULT_PAGE_SIZE,
    SHARED_ARCHIVE_SETTINGS,
    SHARED_POSTGRES_SETTINGS,
    SettingNames,
)


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


def _shared(names: dict[str, str], key: str, default: str | bool | None = None) -> Setting:
    """A setting every source reads from the same variable unless its YAML names another."""
    return Setting(env=[names[key]], default=default)


class _AuthBlock(dg.Model):
    """An `api.auth` block: its type, and the keys of every type (`auth_fields`)."""

    type: str

    def given(self) -> dict[str, object]:
        """The keys set, by name (`type`, `api_key`), as written in the YAML."""
        return {key: value for key, value in self if value is not None}


AuthSettings = pydantic.create_model(
    "AuthSettings",
    __base__=_AuthBlock,
    __module__=__name__,
    __doc__="""How requests prove who they are, in dlt's vocabulary (`http.auth` checks which keys
    each `type` takes). Credentials are settings, so a secret is read from the environment.""",
    **auth_fields(Setting | str),
)


# A paginator's settings: dlt's keys take names, paths, numbers, flags, or null (`total_path`).
PaginatorSettings = dict[str, str | int | bool | None]


class ApiSettings(dg.Model):
    """The list endpoint and how to walk it. Without `paginator`, GoRest's page headers and
    `page_size`; without `data_selector`, each body is a bare array of records."""

    url: Setting
    token: Setting = Setting()
    paginator: str | PaginatorSettings | None = None
    data_selector: str | None = None
    params: dict[str, Any] = {}  # texts, numbers, true/false (`http.endpoint.fixed_params`)
    auth: AuthSettings | None = None  # type: ignore[valid-type]
    page_size: Setting = Setting(default=DEFAULT_PAGE_SIZE)
    max_attempts: Setting = Setting(default=DEFAULT_MAX_ATTEMPTS)
    concurrency: Setting = Setting()
    requests_per_minute: Setting = Setting()  # for an API whose headers state no rate limit
    max_page_bytes: Setting = Setting(default=DEFAULT_MAX_PAGE_BYTES)


class ArchiveSettings(dg.Model):
    """The archive; every source may share a bucket, never a prefix."""

    prefix: Setting
    bucket: Setting = _shared(SHARED_ARCHIVE_SETTINGS, "bucket")
    endpoint_url: Setting = _shared(SHARED_ARCHIVE_SETTINGS, "endpoint_url")
    region: Setting = _shared(SHARED_ARCHIVE_SETTINGS, "region")
    access_key_id: Setting = _shared(SHARED_ARCHIVE_SETTINGS, "access_key_id")
    secret_access_key: Setting = _shared(SHARED_ARCHIVE_SETTINGS, "secret_access_key")
    session_token: Setting = _shared(SHARED_ARCHIVE_SETTINGS, "session_token")
    gzip: Setting = _shared(SHARED_ARCHIVE_SETTINGS, "gzip", default=False)


class PostgresSettings(dg.Model):
    """The database; every source may share a server, never a table."""

    table: Setting
    database_url: Setting = _shared(SHARED_POSTGRES_SETTINGS, "database_url")
    host: Setting = _shared(SHARED_POSTGRES_SETTINGS, "host")
    port: Setting = _shared(SHARED_POSTGRES_SETTINGS, "port")
    user: Setting = _shared(SHARED_POSTGRES_SETTINGS, "user")
    password: Setting = _shared(SHARED_POSTGRES_SETTINGS, "password")
    dbname: Setting = _shared(SHARED_POSTGRES_SETTINGS, "dbname")


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


def check_auth(
    auth: AuthSettings | None,  # type: ignore[valid-type]
    token: Setting,
    names: SettingNames,
) -> None:
    """The auth's keys, as `make_auth` will take them when a run starts (each credential read
    then); a secret written into the YAML itself is refused."""
    if auth is None:
        return
    given = auth.given()
    secrets = AUTH_TYPES[auth.type].secrets if auth.type in AUTH_TYPES else frozenset()
    for key in sorted(secrets & given.keys()):
        if not isinstance(given[key], Setting):
            raise ApiError(
                f"api.auth.{key} is a secret: read it from an environment variable,"
                f" {key}: {{env: [NAME]}}, never write it in the YAML"
            )
    # Credentials are read when a run starts; here each stands in as a value every key takes
    # (a URL is also a valid token or user name), so only the keys are judged.
    placeholder = "https://credential.invalid/"
    placeholders = {k: placeholder if isinstance(v, Setting) else v for k, v in given.items()}
    make_auth(placeholders, names, token=placeholder if token.env or token.default else None)
