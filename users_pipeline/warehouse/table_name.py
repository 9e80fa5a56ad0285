"""A source's table name from configuration, and the tables kept beside it. No Dagster imports."""

from __future__ import annotations

from dataclasses import dataclass, field

from psycopg import sql

from users_pipeline.contract.columns import SIBLING_SUFFIXES, TABLE_NAME
from users_pipeline.errors import PipelineError

LOADS, REJECTS, STAGING, HASHES, HISTORY, HISTORY_DAYS, CHANGES = SIBLING_SUFFIXES
# The table's setting, keyed as in a source's YAML: messages name it so without its variable.
TABLE_SETTING = "postgres.table"


class WarehouseConfigError(PipelineError):
    """A table the settings name that cannot be used; the message names the setting."""


@dataclass(frozen=True)
class TableName:
    """A `table` or `schema.table` name from configuration, validated so it can only be quoted
    as identifiers: `users; DROP TABLE x` is refused, never executed."""

    schema: str | None
    name: str
    setting: str = field(default=TABLE_SETTING, compare=False)  # the name's, for messages

    @classmethod
    def parse(cls, text: str, setting: str = TABLE_SETTING) -> TableName:
        parts = text.split(".")
        if len(parts) > 2 or not all(TABLE_NAME.fullmatch(part) for part in parts):
            raise WarehouseConfigError(
                f"{setting}={text!r} is not a table name: use `table` or `schema.table`"
                " with letters, digits and underscores"
            )
        schema, name = (None, parts[0]) if len(parts) == 1 else (parts[0], parts[1])
        return cls(schema, name, setting)

    @property
    def identifier(self) -> sql.Identifier:
        return (
            sql.Identifier(self.name)
            if self.schema is None
            else sql.Identifier(self.schema, self.name)
        )

    @property
    def regclass(self) -> str:
        """The name as text for `::regclass` and `to_regclass`, quoted like `identifier` (the
        parts never contain quotes), so `Users` is not read as `users`."""
        return ".".join(f'"{part}"' for part in (self.schema, self.name) if part is not None)

    @property
    def loads(self) -> TableName:
        """`<table>_loads`: the log of the days loaded."""
        return self._sibling(LOADS)

    @property
    def rejects(self) -> TableName:
        """`<table>_rejects`: the quarantine of the records refused."""
        return self._sibling(REJECTS)

    @property
    def staging(self) -> TableName:
        """`<table>_staging`: a load's copy of the day, dropped before it commits."""
        return self._sibling(STAGING)

    @property
    def hashes(self) -> TableName:
        """`<table>_hashes`: the latest day's row hashes (see `row_hashes`)."""
        return self._sibling(HASHES)

    @property
    def history(self) -> TableName:
        """`<table>_history`: every version of every record (see `warehouse.history`)."""
        return self._sibling(HISTORY)

    @property
    def history_days(self) -> TableName:
        """`<table>_hdays`: the days the history holds."""
        return self._sibling(HISTORY_DAYS)

    @property
    def changes(self) -> TableName:
        """`<table>_changes`: the latest load's changes, which the history step reads."""
        return self._sibling(CHANGES)

    @property
    def as_of(self) -> sql.Identifier:
        """`<table>_as_of(day)`: the history's rows valid on a day."""
        return self._sibling("_as_of").identifier

    def _sibling(self, suffix: str) -> TableName:
        return TableName(self.schema, self.name + suffix, self.setting)

    def __str__(self) -> str:
        return self.name if self.schema is None else f"{self.schema}.{self.name}"
