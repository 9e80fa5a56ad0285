"""The styles by their names in a source's settings, and the checks of each style's settings
(unknown keys, missing ones, wrong types, what this client cannot honour)."""

from __future__ import annotations

import inspect
import types
import typing
from collections.abc import Mapping

from users_pipeline.http.errors import ApiError
from users_pipeline.http.paginators.base import Paginator, setting
from users_pipeline.http.paginators.gorest import GoRestPaginator
from users_pipeline.http.paginators.ranges import OffsetPaginator, PageNumberPaginator
from users_pipeline.http.paginators.references import (
    CursorPaginator,
    HeaderCursorPaginator,
    HeaderLinkPaginator,
    JsonLinkPaginator,
)
from users_pipeline.http.paginators.single_page import SinglePagePaginator
from users_pipeline.settings import (
    DEFAULT_PAGINATOR,
    SettingNames,
)

STYLES = (
    GoRestPaginator,
    PageNumberPaginator,
    OffsetPaginator,
    CursorPaginator,
    JsonLinkPaginator,
    HeaderLinkPaginator,
    HeaderCursorPaginator,
    SinglePagePaginator,
)
# The styles a source can name in its settings (`api.paginator`), by dlt's names.
PAGINATORS: dict[str, type] = {style.style: style for style in STYLES}
# dlt's request-body keys (for POST): this client sends GETs, so these are refused by name.
BODY_PATH_SUFFIX = "_body_path"


def make_paginator(
    config: str | Mapping[str, object] | None, *, page_size: int, names: SettingNames
) -> Paginator:
    """The paginator a source's `api.paginator` setting names: None for GoRest's (the default,
    the only one `api.page_size` sizes), a style's name, or a mapping of `type` and the style's
    settings, as in dlt. Any setting that cannot be honoured fails here, before any request."""
    if config is None:
        config = DEFAULT_PAGINATOR
    if isinstance(config, str):
        style_name, settings, type_setting = config, {}, names("api.paginator")
    elif isinstance(config, Mapping):
        settings = {str(key): value for key, value in config.items()}
        style_name, type_setting = settings.pop("type", None), setting(names, "type")
    else:
        raise ApiError(
            f"{names('api.paginator')} must be a style's name or a mapping with its type,"
            f" got {config!r}"
        )
    style = paginator_style(style_name, type_setting)
    if style is GoRestPaginator:
        check_settings(style, settings, names)
        return GoRestPaginator(page_size, names)
    return style(names, **check_settings(style, settings, names))


def paginator_style(name: object, type_setting: str) -> type:
    """The class of the style `name`; ApiError naming what is known."""
    known = ", ".join(PAGINATORS)
    if name is None:
        raise ApiError(f"{type_setting} is missing: name the style (known: {known})")
    if name == "auto":
        raise ApiError(
            f"{type_setting} 'auto' is not supported: name the style, so the crawl audit knows"
            f" what it can prove (known: {known})"
        )
    if not isinstance(name, str) or name not in PAGINATORS:
        raise ApiError(f"{type_setting} {name!r} is not a pagination style (known: {known})")
    return PAGINATORS[name]


def check_settings(style: type, settings: dict[str, object], names: SettingNames) -> dict:
    """`settings` when each belongs to `style` and has its type and every required one is
    there; else ApiError naming the setting and what is allowed."""
    parameters = {
        name: parameter
        for name, parameter in inspect.signature(style).parameters.items()
        if parameter.kind is inspect.Parameter.KEYWORD_ONLY
    }
    hints = typing.get_type_hints(style.__init__)
    for key, value in settings.items():
        if key.endswith(BODY_PATH_SUFFIX):
            raise ApiError(
                f"{setting(names, key)} is not supported: requests are GETs with the page in"
                f" the query (use {key.removesuffix(BODY_PATH_SUFFIX)}_param)"
            )
        if key not in parameters:
            allowed = ", ".join(parameters) or "none"
            raise ApiError(
                f"{setting(names, key)} does not belong to the {style.style} style"
                f" (its settings: {allowed})"
            )
        if not accepts(hints[key], value):
            raise ApiError(
                f"{setting(names, key)} must be {type_description(hints[key])}, got {value!r}"
            )
    for key, parameter in parameters.items():
        if parameter.default is inspect.Parameter.empty and key not in settings:
            raise ApiError(f"{setting(names, key)} is required by the {style.style} style")
    return settings


def accepts(hint: object, value: object) -> bool:
    """Whether a YAML value has a setting's type (`int`, `str | None`, ...); true/false is no
    number."""
    allowed = typing.get_args(hint) if isinstance(hint, types.UnionType) else (hint,)
    if isinstance(value, bool):
        return bool in allowed
    return any(isinstance(value, kind) for kind in allowed if kind is not bool)


def type_description(hint: object) -> str:
    """A setting's type as messages name it: "a whole number or null"."""
    allowed = typing.get_args(hint) if isinstance(hint, types.UnionType) else (hint,)
    words = {int: "a whole number", str: "a text", bool: "true or false", type(None): "null"}
    return " or ".join(words[kind] for kind in allowed)
