"""The record contract: one declaration of a source's record, from which everything else is derived.

A `RecordContract` lists the fields of a record (name, type, rules, description) and which one is
the key. From it come the msgspec type that validates a batch in C, the reason a record is
rejected, the table's columns and their SQL types, the COPY and upsert column lists and the
column schema shown in Dagster. Adding a field is one edit to a declaration. No Dagster imports.
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import Any

import msgspec

from users_pipeline.contract.field import ContractError, Field

Row = tuple  # a valid record's values, in the order of `RecordContract.source_fields`


@dataclass(frozen=True)
class RecordContract:
    """A source's record: its fields, in column order, exactly one of them the key."""

    fields: tuple[Field, ...]

    def __post_init__(self) -> None:
        object.__setattr__(self, "fields", tuple(self.fields))
        names = [field.name for field in self.fields]
        repeated = sorted({name for name in names if names.count(name) > 1})
        if repeated:
            raise ContractError(f"field {repeated[0]!r} is declared more than once")
        keys = [field.name for field in self.fields if field.key]
        if len(keys) != 1:
            raise ContractError(
                "no field is the key: mark one with key: true"
                if not keys
                else f"fields {', '.join(map(repr, keys))} are all marked key: mark one"
            )

    @cached_property
    def key(self) -> Field:
        return next(field for field in self.fields if field.key)

    @cached_property
    def source_fields(self) -> tuple[Field, ...]:
        """The fields read from each record, in row order (the key first is not required)."""
        return tuple(field for field in self.fields if field.type != "constant")

    @cached_property
    def constants(self) -> tuple[Field, ...]:
        return tuple(field for field in self.fields if field.type == "constant")

    @cached_property
    def key_index(self) -> int:
        return self.source_fields.index(self.key)

    @cached_property
    def unique_indexes(self) -> tuple[int, ...]:
        return tuple(i for i, field in enumerate(self.source_fields) if field.unique)

    @cached_property
    def field_names(self) -> frozenset[str]:
        return frozenset(field.name for field in self.source_fields)

    def struct(self, checked: bool = True) -> type[msgspec.Struct]:
        """A msgspec type for one record: with `checked`, every rule; else the types only."""
        return msgspec.defstruct(
            "Record" if checked else "TypedRecord",
            [
                (field.name, field.msgspec_type(checked), None)
                if field.nullable
                else (field.name, field.msgspec_type(checked))
                for field in self.source_fields
            ],
            kw_only=True,
            gc=False,
        )

    @cached_property
    def as_row(self) -> Callable[[Any], Row]:
        """A decoded record as a `Row` (attrgetter: twice as fast as `msgspec.structs.astuple`)."""
        names = [field.name for field in self.source_fields]
        if len(names) == 1:
            return lambda record: (getattr(record, names[0]),)
        return operator.attrgetter(*names)

    def problem(self, record: object) -> str:
        """Why a record the msgspec type refused is invalid, in words."""
        if not isinstance(record, dict):
            return f"record is a JSON {type(record).__name__}, not an object"
        missing = [
            field.name
            for field in self.source_fields
            if not field.nullable and field.name not in record
        ]
        if missing:
            return f"missing field(s) {', '.join(missing)}"
        for field in self.source_fields:
            problem = field.problem(record)
            if problem:
                return problem
        return "record failed validation"

    def row_as_record(self, row: Sequence) -> dict:
        return dict(zip((field.name for field in self.source_fields), row, strict=True))
