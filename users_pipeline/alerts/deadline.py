"""The time of day (UTC) by which a source's day must be loaded."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone

from users_pipeline.errors import PipelineError

_HH_MM = re.compile(r"([01]\d|2[0-3]):([0-5]\d)")


class DeadlineError(PipelineError):
    """A deadline that is not a time of day."""


@dataclass(frozen=True)
class Deadline:
    """`HH:MM` (UTC): the day D must be loaded by D at that time, from a run that started on D."""

    at: time

    @classmethod
    def parse(cls, text: str, name: str = "loaded_by") -> Deadline:
        match = _HH_MM.fullmatch(text.strip())
        if not match:
            raise DeadlineError(f"{name} {text!r} is not a time of day like 03:00 (UTC)")
        return cls(time(int(match[1]), int(match[2])))

    def __str__(self) -> str:
        return f"{self.at:%H:%M} UTC"

    @property
    def cron(self) -> str:
        """The deadline as a daily cron, as Dagster's freshness policy takes it."""
        return f"{self.at.minute} {self.at.hour} * * *"

    @property
    def window(self) -> timedelta:
        """How long before the deadline the day's load may have happened: since the day began
        (at least the minute Dagster's freshness policy needs)."""
        return max(timedelta(hours=self.at.hour, minutes=self.at.minute), timedelta(minutes=1))

    def passed(self, now: datetime) -> date | None:
        """The day whose deadline has passed at `now`: today once its deadline is reached."""
        now = now.astimezone(timezone.utc)
        return now.date() if now.time() >= self.at else None
