"""The record contract: one declaration of a source's record, from which everything else is derived.

A `RecordContract` lists the fields of a record (name, type, rules, description, where in the
record the value is) and which one is the key. From it come the msgspec type that validates a
batch in C (nested structs for the paths), the reason a record is rejected, the table's columns
and their SQL types, the COPY and upsert column lists and the column schema shown in Dagster.
Adding a field is one edit to a declaration. No Dagster imports.
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import Any

import msgspec

from users_pipeline.contract.field import Absent, ContractError, Field

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
        _key_tree(self.source_fields)

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
        """The record's top-level keys the fields read."""
        return frozenset(field.keys[0] for field in self.source_fields)

    def struct(self, checked: bool = True) -> type[msgspec.Struct]:
        """A msgspec type for one record: with `checked`, every rule; else the types only.
        Decode it with `exact_values.decode_exact` as the `dec_hook`."""
        return self._structs[checked].struct

    @cached_property
    def _structs(self) -> dict[bool, _Nested]:
        tree = _key_tree(self.source_fields)
        return {
            checked: _nested(tree, "Record" if checked else "TypedRecord", checked)
            for checked in (True, False)
        }

    @cached_property
    def as_row(self) -> Callable[[Any], Row]:
        """A decoded record as a `Row` (attrgetter: twice as fast as `msgspec.structs.astuple`).
        Both structs share their attribute names, so one getter serves both."""
        nested = self._structs[True]
        chains = [nested.chains[field.name] for field in self.source_fields]
        if nested.may_be_null:
            return lambda record: tuple(_follow(record, chain) for chain in chains)
        names = [".".join(chain) for chain in chains]
        if len(names) == 1:
            getter = operator.attrgetter(names[0])
            return lambda record: (getter(record),)
        return operator.attrgetter(*names)

    @cached_property
    def key_struct(self) -> tuple[type[msgspec.Struct], Callable[[Any], object]]:
        """A msgspec type that reads a record's key and skips the rest (a third of the time of a
        full decode), and the getter of the key from it."""
        nested = _nested(_key_tree([self.key]), "RecordKey", checked=False)
        chain = nested.chains[self.key.name]
        if nested.may_be_null:
            return nested.struct, lambda record: _follow(record, chain)
        return nested.struct, operator.attrgetter(".".join(chain))

    def problem(self, record: object) -> str:
        """Why a record the msgspec type refused is invalid, in words."""
        if not isinstance(record, dict):
            return f"record is a JSON {type(record).__name__}, not an object"
        missing = [
            field.location
            for field in self.source_fields
            if not field.nullable and _is_missing(field.lookup(record))
        ]
        if missing:
            return f"missing field(s) {', '.join(missing)}"
        for field in self.source_fields:
            problem = field.problem(record)
            if problem:
                return problem
        return "record failed validation"


def _is_missing(value: object) -> bool:
    return isinstance(value, Absent) and value.missing


# The fields by the keys that lead to them: a key holds a field, or the keys inside it.
KeyTree = dict[str, "Field | KeyTree"]


def _key_tree(fields: Sequence[Field]) -> KeyTree:
    """The fields by their keys; a ContractError if two read the same value, or one reads
    from inside another's value."""
    tree: KeyTree = {}
    for field in fields:
        node = tree
        for depth, key in enumerate(field.keys):
            inner = node.get(key)
            last = depth == len(field.keys) - 1
            if isinstance(inner, Field) and last:
                raise ContractError(
                    f"field {field.name!r}: {field.location} is read by field {inner.name!r} too"
                )
            if isinstance(inner, Field) or (last and inner is not None):
                outer, within = (inner, field) if isinstance(inner, Field) else (field, inner)
                raise ContractError(
                    f"field {field.name!r}: field {_first(within).name!r} reads from inside"
                    f" field {outer.name!r} ({'.'.join(field.keys[: depth + 1])})"
                )
            if last:
                node[key] = field
            else:
                node = node.setdefault(key, {})  # type: ignore[assignment]
    return tree


def _first(item: Field | KeyTree) -> Field:
    return item if isinstance(item, Field) else _first(next(iter(item.values())))


@dataclass(frozen=True)
class _Nested:
    """A msgspec struct for a `KeyTree`, and the attributes that lead to each field's value."""

    struct: type[msgspec.Struct]
    chains: dict[str, tuple[str, ...]]  # by field name
    optional: bool  # every field inside may be absent: so may the whole object
    may_be_null: bool  # an object on the way to some field may be null


def _nested(tree: KeyTree, name: str, checked: bool) -> _Nested:
    """Attributes are `k0`, `k1`, ... renamed to the keys, which need not be identifiers."""
    attributes: list[tuple] = []
    chains: dict[str, tuple[str, ...]] = {}
    may_be_null = False
    for index, item in enumerate(tree.values()):
        attribute = f"k{index}"
        if isinstance(item, Field):
            kind, optional = item.msgspec_type(checked), item.nullable
            chains[item.name] = (attribute,)
        else:
            inner = _nested(item, f"{name}_{attribute}", checked)
            optional = inner.optional
            kind = inner.struct | None if optional else inner.struct
            chains |= {field: (attribute, *chain) for field, chain in inner.chains.items()}
            may_be_null = may_be_null or optional or inner.may_be_null
        attributes.append((attribute, kind, None) if optional else (attribute, kind))
    struct = msgspec.defstruct(
        name,
        attributes,
        kw_only=True,
        gc=False,
        rename={attribute: key for (attribute, *_), key in zip(attributes, tree, strict=True)},
    )
    optional = all(len(attribute) == 3 for attribute in attributes)
    return _Nested(struct, chains, optional, may_be_null)


def _follow(record: object, chain: tuple[str, ...]) -> object:
    """The value at the end of `chain`, or None where an object on the way is null."""
    for attribute in chain:
        if record is None:
            return None
        record = getattr(record, attribute)
    return record
