"""Which days exist, and which day can be fetched. No Dagster imports.

A REST list has no history: it serves the list as it is now. So a day's snapshot can only be
taken on that day (UTC); any other day is refused before a request is made, since storing today's
records under another date would be a false snapshot. Past days live on in the archive, from which
a source's table asset loads them.

Around midnight: the day is checked when the fetch starts. A fetch that started on day D keeps D
even if it ends after midnight; a run for D whose fetch starts after D has ended (held in the
queue, or launched by a late tick) is refused, and the schedule skips a tick evaluated after its
own day has ended.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, timezone
from enum import Enum

from users_pipeline.errors import PipelineError, RefusalError
from users_pipeline.settings import DEFAULT_FIRST_DAY, FIRST_DAY_SETTING


class DayNotFetchableError(RefusalError):
    """A snapshot asked for a day other than today."""


class MissingSnapshotError(RefusalError):
    """A day to archive or load whose snapshot is not where it is looked for: a past day that
    no run can give one now, a day not yet taken, or one taken but not archived."""


class FirstDayError(PipelineError):
    """The first day setting cannot start the partitions."""


class Snapshot(Enum):
    """Where a day's snapshot is."""

    ARCHIVED = "archived"
    NOT_ARCHIVED = "taken, in a data dir or staged, but not archived"
    NONE = "never taken"


@dataclass(frozen=True)
class DayAssets:
    """The names of a source's three assets, as refusals tell what to materialize."""

    fetch: str
    upload: str
    table: str

    def archive_first(self, day: date) -> str:
        return f"materialize {self.upload} for {day} where it was fetched, then {self.table}"


# What can be done for a past day with no snapshot: nothing for it, today's run for today.
NOTHING_FOR_THAT_DAY = "nothing can load that day; today's run loads today"


def utc_today() -> date:
    return datetime.now(timezone.utc).date()


def check_fetchable(
    day: date,
    today: date,
    source: str,
    assets: DayAssets,
    snapshot_of: Callable[[date], Snapshot],
) -> None:
    """Refuse to take a snapshot of any day but today. For a past day, say what rebuilds it
    from its snapshot (`snapshot_of` says where that is), or that nothing can."""
    if day == today:
        return
    if day > today:
        next_step = f"{day}'s own run takes it on {day}"
    else:
        next_step = {
            Snapshot.ARCHIVED: f"to rebuild {day} from the archive, materialize {assets.table}"
            " for it (or for a range of days)",
            Snapshot.NOT_ARCHIVED: "its snapshot was taken but never archived: "
            + assets.archive_first(day),
            Snapshot.NONE: f"no snapshot of {day} was taken then, so {NOTHING_FOR_THAT_DAY}",
        }[snapshot_of(day)]
    raise DayNotFetchableError(
        f"cannot fetch the {source} of {day} on {today} (UTC): the API serves only the present"
        f" list, so a day's snapshot is taken on that day; {next_step}",
        next_step=next_step,
    )


def never_taken(day: date, source: str) -> MissingSnapshotError:
    """A past day with no snapshot anywhere: one was not taken that day, and cannot be now."""
    return MissingSnapshotError(
        f"no {source} snapshot was taken on {day}, and none can be now (the API serves only the"
        f" present): {NOTHING_FOR_THAT_DAY}",
        next_step=NOTHING_FOR_THAT_DAY,
    )


def not_archived(
    day: date, today: date, source: str, missing: str, assets: DayAssets, snapshot: Snapshot
) -> MissingSnapshotError:
    """Why a day to load is not in the archive (`missing` says which object is absent): its
    snapshot waits for the upload asset, or a past day was never taken; today's is taken by the
    fetch, a later day by its own run."""
    if snapshot is Snapshot.NOT_ARCHIVED:
        next_step = assets.archive_first(day)
        message = f"the {source} snapshot of {day} was taken but never archived ({missing})"
        return MissingSnapshotError(f"{message}: {next_step}", next_step=next_step)
    if day < today:
        return never_taken(day, source)
    if day == today:
        next_step = (
            f"materialize {assets.fetch} and {assets.upload} for {day} first (today's run does"
            " all three)"
        )
    else:
        next_step = f"{day}'s own run takes and loads it on {day}"
    return MissingSnapshotError(
        f"no {source} snapshot of {day} is archived yet ({missing}): {next_step}",
        next_step=next_step,
    )


def stale_tick_reason(tick_day: date, today: date) -> str | None:
    """Why a schedule tick for `tick_day`, evaluated on `today`, must not launch a fetch."""
    if tick_day == today:
        return None
    return (
        f"the tick for {tick_day} was evaluated on {today} (UTC), after its day ended: the API"
        f" serves only the present list, so {tick_day} has no snapshot to take"
    )


def first_day(text: str | None, today: date) -> date:
    """The first daily partition, from `text` (YYYY-MM-DD). A deployment sets it to its first
    snapshot, so the UI counts no day that could never exist."""
    if not text:
        return DEFAULT_FIRST_DAY
    try:
        day = date.fromisoformat(text.strip())
    except ValueError:
        raise FirstDayError(f"{FIRST_DAY_SETTING}={text!r} is not a date like 2026-01-01") from None
    if day > today:
        raise FirstDayError(
            f"{FIRST_DAY_SETTING}={text!r} is in the future (today is {today} UTC): the first"
            " day must be one whose snapshot could already have been taken"
        )
    return day
