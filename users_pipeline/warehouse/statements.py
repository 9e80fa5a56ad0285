"""The SQL of a day's load, and the column lists that fill it in from the contract.

A row's `last_seen` is kept relative to the latest snapshot loaded: NULL while the record is in
it, a date once it is not. So a day writes a row version only for a record that is new, changed,
gone or back; a day on which nothing changed writes none, and re-running a day writes nothing.
An older day replayed never overwrites newer data, and replaying days in any order ends in the
same table. No Dagster imports.
"""

from __future__ import annotations

from collections.abc import Iterable

import psycopg
from psycopg import sql

from users_pipeline.contract.columns import UNKNOWN_LAST_SEEN
from users_pipeline.contract.field import EXACT_TYPES, Field
from users_pipeline.contract.record import RecordContract
from users_pipeline.warehouse.provenance import DayProvenance
from users_pipeline.warehouse.table_name import TableName

# The day's changes, found in one pass over the table and the staged day (the costly part of a
# load): every record the day says something new about (`unchanged_condition`: new, changed,
# back, or, for an older day, seen later than the stored row says), and every stored record the
# day lacks that the statements below update. A day without changes yields no row.
CHANGES = (
    "CREATE TEMPORARY TABLE _load_changes ON COMMIT DROP AS"
    " SELECT coalesce(s.{key}, t.{key}) AS {key}, {source_values}, s.{key} IS NOT NULL AS seen"
    " FROM {staging} AS s FULL JOIN {target} AS t ON t.{key} = s.{key}"
    " WHERE CASE WHEN s.{key} IS NOT NULL THEN t.{key} IS NULL OR NOT ({unchanged})"
    " WHEN t.last_seen IS NULL THEN %(is_latest)s"
    " ELSE %(crawl_complete)s AND t.last_seen < %(snapshot_date)s"
    " AND (t.deleted_at IS NULL OR t.deleted_at > %(snapshot_date)s) END"
)
# A new latest day that stages only the rows whose hash differs from the previous day's (see
# `row_hashes`) COPYs them straight into the changes, which the upsert then compares with the
# table (`skip_unchanged`), and adds the keys of the stored records the day lacks: the previous
# day's (`gone_keys`, last seen in it) and those absent before (`absent_keys`, which a
# complete crawl deletes).
STAGED_CHANGES = (
    "CREATE TEMPORARY TABLE _load_changes ({staging_columns}, seen boolean NOT NULL DEFAULT true)"
    " ON COMMIT DROP"
)
UNSEEN_KEYS = (
    "INSERT INTO _load_changes ({key}, seen)"
    " SELECT unnest(%(gone_keys)s::bigint[] || %(absent_keys)s::bigint[]), false"
)
# The one read of the whole table such a day needs: its rows, those current, and the keys of
# the records that are neither current nor deleted (not deleted: no deletion date is later
# than a new latest day).
BEFORE_STAGED = (
    "SELECT count(*), count(*) FILTER (WHERE deleted_at IS NULL),"
    " coalesce(array_agg({key}) FILTER (WHERE last_seen IS NOT NULL AND deleted_at IS NULL),"
    " '{{}}') FROM {target}"
)
# A new latest day's changes, kept for the history step (see `history`), with a comment that
# names the snapshot and the latest day before it they were found against.
SAVE_CHANGES = (
    "DROP TABLE IF EXISTS {changes}",
    "CREATE TABLE {changes} AS SELECT * FROM _load_changes",
    "COMMENT ON TABLE {changes} IS {stamp}",
)
# The current rows a new latest day, complete, would mark deleted: asked before any is written.
WOULD_DELETE = (
    "SELECT count(*) FROM _load_changes AS c JOIN {target} AS t ON t.{key} = c.{key}"
    " WHERE NOT c.seen AND t.deleted_at IS NULL"
)
# Write the records the day says something new about.
UPSERT = (
    "WITH written AS ("
    " INSERT INTO {target} AS t ({key}, {values}, last_seen, deleted_at)"
    " SELECT s.{key}, {staged_values}, %(seen)s, %(gone)s"
    " FROM _load_changes AS s WHERE s.seen"
    " ON CONFLICT ({key}) DO UPDATE"
    " SET ({values}, last_seen, deleted_at)"
    " = ROW({excluded_values}, excluded.last_seen, excluded.deleted_at) {skip_unchanged}"
    " RETURNING (xmax = 0) AS inserted)"
    " SELECT count(*) FILTER (WHERE inserted), count(*) FILTER (WHERE NOT inserted) FROM written"
)
# A record's deleted_at is the first complete snapshot after the last one it was seen in. With
# the upsert above, the two statements below keep that true whatever order days are loaded in,
# so a replay in any order ends in the same table as the daily runs. For a new latest day, the
# records of the previous latest snapshot that it lacks get their last sighting, and are
# deleted if this day's crawl is complete:
UNSEEN = (
    "UPDATE {target} AS t SET (last_seen, deleted_at) = ROW(%(previous_latest)s, %(deleted_now)s)"
    " FROM _load_changes AS c WHERE c.{key} = t.{key} AND NOT c.seen AND t.last_seen IS NULL"
)
# Then, if this day's crawl was complete, records last seen before it and absent from it.
MARK_DELETED = (
    "UPDATE {target} AS t SET deleted_at = %(snapshot_date)s"
    " FROM _load_changes AS c WHERE c.{key} = t.{key} AND NOT c.seen"
    " AND t.last_seen < %(snapshot_date)s"
    " AND (t.deleted_at IS NULL OR t.deleted_at > %(snapshot_date)s)"
)


def column_fragments(contract: RecordContract) -> dict[str, sql.Composable]:
    """The column lists of the statements above, from the contract. The values are every field
    but the key, constants included; a constant's staged value is its literal."""
    values = [field for field in contract.fields if not field.key]
    return {
        "key": sql.Identifier(contract.key.name),
        "values": _listed(sql.Identifier(field.name) for field in values),
        "staged_values": _listed(map(_staged, values)),
        "excluded_values": _listed(_column("excluded", field) for field in values),
        "same_values": _same_values(values, "s"),
        "same_as_excluded": _same_values(values, "excluded"),
        "source_values": _listed(
            sql.SQL("s.{0} AS {0}").format(sql.Identifier(field.name))
            for field in contract.source_fields
            if not field.key
        ),
        "no_values": _listed(sql.SQL("NULL") for field in contract.source_fields if not field.key),
        "staging_columns": _listed(
            sql.SQL("{} {}").format(sql.Identifier(field.name), sql.SQL(field.sql_type))
            for field in contract.source_fields
        ),
    }


def _listed(items: Iterable[sql.Composable]) -> sql.Composable:
    return sql.SQL(", ").join(items)


def _staged(field: Field, prefix: str = "s") -> sql.Composable:
    if field.type == "constant":
        return sql.SQL("{}::{}").format(sql.Literal(field.value), sql.SQL(field.sql_type))
    return _column(prefix, field)


def _column(prefix: str, field: Field) -> sql.Composable:
    return sql.SQL(prefix + ".{}").format(sql.Identifier(field.name))


def _same_values(values: list[Field], staged: str) -> sql.Composable:
    """Every value the same in the stored row `t` and the staged one (`staged`: its alias)."""
    return sql.SQL(" AND ").join(
        sql.SQL("{} IS NOT DISTINCT FROM {}").format(
            _compared(_column("t", field), field), _compared(_staged(field, staged), field)
        )
        for field in values
    )


def _compared(value: sql.Composable, field: Field) -> sql.Composable:
    """A value as it is compared with the stored one: numbers by their text, so a change of
    scale alone (12.5 to 12.50) is a change, as the API wrote it."""
    return sql.SQL("{}::text").format(value) if field.type in EXACT_TYPES else value


class LoadStatements:
    """The statements of one load, sharing its cursor, its parameters, and the table names and
    column lists that fill the statements' `{...}` fields."""

    def __init__(
        self,
        cursor: psycopg.Cursor,
        table: TableName,
        contract: RecordContract,
        provenance: DayProvenance,
    ) -> None:
        self.cursor = cursor
        self.table = table
        self.contract = contract
        self.provenance = provenance
        self.params: dict[str, object] = {
            "snapshot_date": provenance.snapshot_date,
            "crawl_complete": provenance.crawl_complete,
            "source_uri": provenance.source_uri,
            "sha256": provenance.sha256,
            "unknown": UNKNOWN_LAST_SEEN,
        }
        self.fragments = {
            "target": table.identifier,
            "loads": table.loads.identifier,
            "rejects": table.rejects.identifier,
            "staging": table.staging.identifier,
            "changes": table.changes.identifier,
            "hashes": table.hashes.identifier,
            **column_fragments(contract),
        }

    def run(self, statement: str, **fragments: sql.Composable) -> int:
        """Execute `statement` with the load's fragments and parameters: the rows it touched."""
        self.cursor.execute(sql.SQL(statement).format(**self.fragments, **fragments), self.params)
        return self.cursor.rowcount

    def fetch(self, statement: str, **fragments: sql.Composable) -> tuple:
        """The one row `statement` returns."""
        self.run(statement, **fragments)
        return self.cursor.fetchone()

    def place_in_history(self) -> None:
        """Where this day stands among the days loaded: the latest (or a new latest) one, whose
        records get `last_seen` NULL, or an older one, whose records get its date and the
        `deleted_at` of the first complete snapshot after it."""
        day = self.provenance.snapshot_date
        previous_latest, first_complete_after = self.fetch(
            "SELECT max(snapshot_date), min(snapshot_date) FILTER"
            " (WHERE crawl_complete AND snapshot_date > %(snapshot_date)s) FROM {loads}"
        )
        self.params["is_latest"] = previous_latest is None or day >= previous_latest
        newer = previous_latest is not None and day > previous_latest
        self.params |= {
            "seen": None if self.is_latest else day,
            "gone": None if self.is_latest else first_complete_after,
            # The records of the previous latest snapshot that this one lacks were last seen
            # in it (in an earlier load of this very day, if it is loaded again).
            "previous_latest": previous_latest or day,
            "newer": newer,
            "deleted_now": day if newer and self.provenance.crawl_complete else None,
        }

    @property
    def is_latest(self) -> bool:
        return bool(self.params.get("is_latest", True))

    def unchanged_condition(self, staged: str = "s") -> sql.Composable:
        """When a stored row `t` already says what this day says about its record (the day's
        row: `s`, or `excluded` in the upsert)."""
        same = self.fragments["same_values" if staged == "s" else "same_as_excluded"]
        if self.is_latest:
            return sql.SQL("t.last_seen IS NULL AND {}").format(same)
        return sql.SQL(
            "(t.last_seen IS NULL OR t.last_seen > %(snapshot_date)s"
            " OR (t.last_seen = %(snapshot_date)s AND {}))"
        ).format(same)
