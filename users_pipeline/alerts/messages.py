"""The text of each alert: the source, the day, what failed with its one-line error, and a link
to the run. Plain text with Slack's `*bold*`, which Mattermost and Rocket.Chat render too."""

from __future__ import annotations

from dataclasses import dataclass

from users_pipeline.alerts.deadline import Deadline

MAX_ERROR_CHARS = 300


def one_line(text: str) -> str:
    """The first non-empty line of an error, cut to a length a chat message shows whole."""
    line = next((line.strip() for line in text.splitlines() if line.strip()), "")
    return line if len(line) <= MAX_ERROR_CHARS else line[: MAX_ERROR_CHARS - 1] + "…"


@dataclass(frozen=True)
class RunRef:
    """A run as an alert points to it: its page in the UI when its address is known."""

    run_id: str
    webserver_url: str | None = None

    def __str__(self) -> str:
        if self.webserver_url:
            return f"Run: {self.webserver_url.rstrip('/')}/runs/{self.run_id}"
        return f"Run: {self.run_id}"


def failed_run(
    source: str, day: str, step: str | None, error: str, run: RunRef, retried: bool
) -> str:
    """A run that failed, at `step` (None when no step failed, e.g. its worker died)."""
    where = f" at step {step}" if step else ""
    lines = [f"*{source}* {day}: run failed{where}", one_line(error)]
    if retried:
        lines.append("Run retries will try the day again.")
    return "\n".join([*lines, str(run)])


def failed_check(
    source: str, day: str, check: str, severity: str, description: str | None, run: RunRef
) -> str:
    """A check that failed in a run that did not (its step went on, or it only warns)."""
    lines = [f"*{source}* {day}: check {check} failed ({severity})"]
    if description:
        lines.append(one_line(description))
    return "\n".join([*lines, str(run)])


def late_day(source: str, day: str, table: str, deadline: Deadline) -> str:
    """A day its table was not loaded for by the source's deadline."""
    return (
        f"*{source}* {day}: not loaded by {deadline}\n"
        f"{table} has no materialization for {day}: no run loaded the day by its deadline."
    )
