"""What the table's checks say about a loaded day: the guard against mass deletes, which refuses
a day, and the row-count trend, which only warns. No Dagster imports (`orchestration.checks`
makes them results).

An API that suddenly returns half its records, with totals that agree, passes every crawl check:
only the table knows that half its current rows would go. The load says how many current rows a
new latest day would mark deleted before it writes any (`load_day`'s `on_deletes`), and the
table asset's `DeleteGuard` lets the day through or refuses it, which rolls its transaction
back. A day whose deletes only a run's own `max_delete_share` lets through is recorded as
accepted in the archive, beside its manifest, so a rebuild of the table loads it without asking
again.
"""

from __future__ import annotations

import tempfile
from dataclasses import asdict, dataclass
from datetime import date, datetime, timezone
from pathlib import Path

import orjson

from users_pipeline.errors import PipelineError
from users_pipeline.snapshot.verdicts import Rerun, Verdict, enough_share, percents
from users_pipeline.storage.archive import Archive, MissingObjectError
from users_pipeline.storage.files import file_digest
from users_pipeline.storage.layout import SourceLayout

MAX_DELETE_SHARE = "max_delete_share"


class DeletesRefused(PipelineError):
    """A new latest day would mark more of the current rows deleted than the limit allows."""

    def __init__(self, day: date, verdict: Verdict) -> None:
        super().__init__(f"{day}: {verdict.description}", verdict.next_step)
        self.day, self.verdict = day, verdict


@dataclass(frozen=True)
class Acceptance:
    """Someone let a day's deletes through: which snapshot (its sha256), how many, and the
    limit the run was given."""

    day: str
    sha256: str
    deletes: int
    current_rows: int
    max_delete_share: float
    accepted_at: str


class DeleteGuard:
    """Refuses a day whose deletes are above `source_limit` (the source's `max_delete_share`)
    unless the run's `run_limit` covers them, which records them as accepted, or they were
    accepted before; `verdict(day)` is the day's check."""

    def __init__(
        self,
        source_limit: float,
        run_limit: float,
        store: Archive,
        layout: SourceLayout,
        table: str,
        asset: str,
        defs_yaml: str | None = None,
    ) -> None:
        self.source_limit, self.run_limit = source_limit, run_limit
        self.store, self.layout, self._table = store, layout, table
        self._asset, self._defs_yaml = asset, defs_yaml
        self._verdicts: dict[date, Verdict] = {}

    def __call__(self, day: date, sha256: str, deletes: int, current_rows: int) -> None:
        """The load of `day` (a new latest day, complete) would mark `deletes` of the table's
        `current_rows` deleted: let it through, or raise DeletesRefused."""
        share = deletes / max(current_rows, 1)
        shown, limit = percents(share, self.source_limit)
        facts = {"deletes": deletes, "current_rows": current_rows, "share": shown, "limit": limit}
        said = f"{deletes:,} of {current_rows:,} current rows of {self._table} deleted"
        said += f" ({shown}, the limit is {limit})"
        if share <= self.source_limit:
            self._verdicts[day] = Verdict(True, f"Marks {said}", facts)
            return
        accepted = self._accepted(day, sha256)
        if accepted is None and share <= self.run_limit:
            accepted = self._accept(day, sha256, deletes, current_rows)
        if accepted is None:
            raise DeletesRefused(day, self._refusal(day, said, facts, deletes, current_rows))
        self._verdicts[day] = Verdict(
            True,
            f"Marks {said}: accepted on {accepted.accepted_at[:10]}"
            f" (max_delete_share {accepted.max_delete_share})",
            {**facts, "accepted_at": accepted.accepted_at},
        )

    def verdict(self, day: date) -> Verdict:
        """The check of a day loaded (after `__call__`, if the load asked)."""
        return self._verdicts.get(day) or Verdict(
            True, f"Marks no current row of {self._table} deleted", {"deletes": 0}
        )

    def _refusal(
        self, day: date, said: str, facts: dict, deletes: int, current_rows: int
    ) -> Verdict:
        rerun = Rerun(
            self._asset,
            day,
            self._defs_yaml,
            downstream=False,
            when="again, from the archive, on any day,",
            lasting="The acceptance is kept in the archive beside the day's manifest: a rebuild"
            " of the table loads the day without asking again. ",
        )
        enough = enough_share(deletes, current_rows)
        next_step = rerun.next_step(
            "An API that serves part of its list, with totals that agree, looks like this. If"
            " the records really are gone, accept the day.",
            MAX_DELETE_SHARE,
            enough,
        )
        return Verdict(
            False,
            f"would mark {said}: nothing loaded; if they are really gone, accept the day by"
            f" loading it with {MAX_DELETE_SHARE}: {enough}",
            facts,
            next_step,
        )

    def _accepted(self, day: date, sha256: str) -> Acceptance | None:
        try:
            found = orjson.loads(self.store.read_bytes(self.layout.acceptance_key(day)))
        except MissingObjectError:
            return None
        return Acceptance(**found) if found["sha256"] == sha256 else None

    def _accept(self, day: date, sha256: str, deletes: int, current_rows: int) -> Acceptance:
        accepted = Acceptance(
            day.isoformat(),
            sha256,
            deletes,
            current_rows,
            self.run_limit,
            datetime.now(timezone.utc).isoformat(timespec="seconds"),
        )
        with tempfile.TemporaryDirectory() as folder:
            path = Path(folder) / "acceptance.json"
            path.write_bytes(orjson.dumps(asdict(accepted), option=orjson.OPT_APPEND_NEWLINE))
            self.store.put(path, self.layout.acceptance_key(day), file_digest(path))
        return accepted


def count_verdict(rows: int, previous: tuple[date, int] | None, max_count_change: float) -> Verdict:
    """The day's valid rows against the previous loaded day's (a warning beyond the limit)."""
    if previous is None:
        return Verdict(True, f"{rows:,} rows; no earlier day loaded", {"rows": rows})
    day, before = previous
    change = (rows - before) / max(before, 1)
    shown, limit = percents(abs(change), max_count_change)
    sign = "+" if change >= 0 else "-"
    facts = {"rows": rows, "previous_day": day.isoformat(), "previous_rows": before}
    return Verdict(
        abs(change) <= max_count_change,
        f"{rows:,} rows against {before:,} on {day} ({sign}{shown}, the limit is {limit})",
        {**facts, "change": f"{sign}{shown}", "limit": limit},
    )
