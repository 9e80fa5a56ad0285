"""A source's alert sensor: every failed run, every failed check of a run that did not fail, and
a day not loaded by its deadline, posted once to `ALERT_WEBHOOK_URL`.

A plain sensor over the instance's event log rather than a `run_failure_sensor`: it sees every
run of the instance, whoever launched it (the schedule, the UI, or the CLI, whose
`dagster asset materialize` runs carry no code location and run as `__ASSET_JOB`), and picks the
source's runs by their job and assets; and its cursor holds the alerts the webhook has not taken
yet, which a run-status sensor's cursor, moved past a run even when it raises, cannot.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone

import dagster as dg
from dagster import DagsterEventType, DagsterRun

from users_pipeline.alerts import messages
from users_pipeline.alerts.deadline import Deadline
from users_pipeline.alerts.webhook import AlertNotSent, Webhook
from users_pipeline.orchestration.failures import REFUSED
from users_pipeline.settings import (
    ALERT_INTERVAL_SECONDS,
    ALERT_WEBHOOK_SETTING,
    MAX_UNSENT_ALERTS,
    WEBSERVER_URL_SETTING,
)

RUN_FAILURE, RUN_SUCCESS = DagsterEventType.RUN_FAILURE, DagsterEventType.RUN_SUCCESS
PAGE = 100  # run status changes read per tick and kind
# Dagster's run tags: the day, a range's ends, and whether run retries will try the run again.
PARTITION_TAG = "dagster/partition"
RANGE_TAGS = ("dagster/asset_partition_range_start", "dagster/asset_partition_range_end")
WILL_RETRY_TAG = "dagster/will_retry"
RETRY_DECISION_SECONDS = 60  # a failed run without the tag after this long will not get it
# What Dagster says of a run another process marked failed without saying why.
UNSTATED_FAILURE = "This run has been marked as failed from outside the execution context."


def alerts_enabled() -> bool:
    """Alerts exist only with a webhook: unset, no sensor is defined and nothing changes."""
    return bool(os.environ.get(ALERT_WEBHOOK_SETTING))


@dataclass(frozen=True)
class Watched:
    """What a source's sensor watches: its job, its assets (a run of any of them is the
    source's), its table and the deadline by which each day must be in it."""

    source: str
    job: str
    assets: frozenset[dg.AssetKey]
    table: dg.AssetKey
    deadline: Deadline

    def owns(self, run: DagsterRun) -> bool:
        if run.job_name == self.job:
            return True
        checks = {key.asset_key for key in run.asset_check_selection or ()}
        return bool(self.assets & (set(run.asset_selection or ()) | checks))

    def owns_step(self, step_key: str | None) -> bool:
        return step_key in {key.to_user_string() for key in self.assets}


@dataclass
class Cursor:
    """Where the sensor is: the last run failure and success it read (storage ids), the alerts
    not yet taken by the webhook, and the last day whose deadline it checked."""

    failures: int | None = None
    successes: int | None = None
    unsent: list[str] = field(default_factory=list)
    deadline_checked: str | None = None

    @classmethod
    def parse(cls, text: str | None) -> Cursor:
        return cls(**json.loads(text)) if text else cls()

    def dump(self) -> str:
        return json.dumps(asdict(self))


def alert_sensor(watched: Watched) -> dg.SensorDefinition:
    @dg.sensor(
        name=f"{watched.source}_alerts",
        minimum_interval_seconds=ALERT_INTERVAL_SECONDS,
        default_status=dg.DefaultSensorStatus.RUNNING,
        description=f"Posts each failed {watched.source} run, each failed check of a run that did"
        f" not fail, and a day not loaded by {watched.deadline}, to {ALERT_WEBHOOK_SETTING}.",
    )
    def _alerts(context: dg.SensorEvaluationContext) -> dg.SkipReason:
        cursor = Cursor.parse(context.cursor)
        cursor.unsent += list(new_alerts(context.instance, watched, cursor))
        if len(cursor.unsent) > MAX_UNSENT_ALERTS:
            dropped = len(cursor.unsent) - MAX_UNSENT_ALERTS
            context.log.warning(f"{dropped} unsent alert(s) dropped, the oldest")
            cursor.unsent = cursor.unsent[dropped:]
        sent = send(Webhook(os.environ.get(ALERT_WEBHOOK_SETTING, "")), cursor, context.log)
        context.update_cursor(cursor.dump())
        return dg.SkipReason(f"{sent} alert(s) posted, {len(cursor.unsent)} waiting")

    return _alerts


def send(webhook: Webhook, cursor: Cursor, log: dg.DagsterLogManager) -> int:
    """Post the unsent alerts in order; at the first the webhook refuses, keep it and the rest
    for the next tick."""
    sent = 0
    while cursor.unsent:
        try:
            webhook.post(cursor.unsent[0])
        except AlertNotSent as error:
            log.warning(f"alert not sent, tried again at the next tick: {error}")
            break
        cursor.unsent.pop(0)
        sent += 1
    return sent


def new_alerts(instance: dg.DagsterInstance, watched: Watched, cursor: Cursor) -> Iterator[str]:
    """The alerts since the cursor; on the sensor's first tick, none from before it."""
    link = os.environ.get(WEBSERVER_URL_SETTING) or None
    failed, cursor.failures = _finished_runs(instance, RUN_FAILURE, cursor.failures)
    for run in failed:
        if watched.owns(run):
            yield from _failed_run(instance, watched, run, link)
    done, cursor.successes = _finished_runs(instance, RUN_SUCCESS, cursor.successes)
    for run in done:
        if watched.owns(run):
            yield from _failed_checks(instance, watched, run, link)
    day = watched.deadline.passed(datetime.now(timezone.utc))
    if day and cursor.deadline_checked != day.isoformat():
        cursor.deadline_checked = day.isoformat()
        loaded = instance.fetch_materializations(
            dg.AssetRecordsFilter(asset_key=watched.table, asset_partitions=[day.isoformat()]),
            limit=1,
        )
        if not loaded.records:
            table = watched.table.to_user_string()
            yield messages.late_day(watched.source, day.isoformat(), table, watched.deadline)


def _finished_runs(
    instance: dg.DagsterInstance, event_type: DagsterEventType, after: int | None
) -> tuple[list[DagsterRun], int]:
    """The runs that ended with `event_type` after the storage id `after`, and the new one. A
    failed run that run retries have not judged yet (they tag it just after its failure event)
    waits for the next tick, so that its alert can say whether a retry follows."""
    if after is None:  # the first tick: start from now
        latest = instance.fetch_run_status_changes(event_type, limit=1).records
        return [], latest[0].storage_id if latest else 0
    records = instance.fetch_run_status_changes(
        dg.RunStatusChangeRecordsFilter(event_type=event_type, after_storage_id=after),
        limit=PAGE,
        ascending=True,
    ).records
    runs = []
    for record in records:
        run = instance.get_run_by_id(record.run_id)
        if run and _retry_undecided(instance, run, record.timestamp):
            break
        if run:
            runs.append(run)
        after = record.storage_id
    return runs, after


def _retry_undecided(instance: dg.DagsterInstance, run: DagsterRun, failed_at: float) -> bool:
    return (
        instance.run_retries_enabled
        and run.status == dg.DagsterRunStatus.FAILURE
        and WILL_RETRY_TAG not in run.tags
        and time.time() - failed_at < RETRY_DECISION_SECONDS
    )


def _failed_run(
    instance: dg.DagsterInstance, watched: Watched, run: DagsterRun, link: str | None
) -> Iterator[str]:
    """The run's alert: at its first failed step of this source, with the step's own error;
    none when that step refused the request, or when only another source's steps failed."""
    steps = [
        record.event_log_entry.dagster_event
        for record in instance.get_records_for_run(
            run.run_id, of_type=DagsterEventType.STEP_FAILURE
        ).records
    ]
    if steps:
        ours = [step for step in steps if watched.owns_step(step.step_key)]
        if not ours:
            return
        data = ours[0].step_failure_data
        user = data.user_failure_data
        if user and REFUSED in (user.metadata or {}):
            return
        step, error = ours[0].step_key, (user.description if user else None) or data.error.message
    else:  # no step failed: the run itself did (its worker died, its resources failed)
        step, error = None, _run_failure(instance, run)
    retried = run.tags.get(WILL_RETRY_TAG) == "true"
    ref = messages.RunRef(run.run_id, link)
    yield messages.failed_run(watched.source, _day(run), step, error, ref, retried)


def _run_failure(instance: dg.DagsterInstance, run: DagsterRun) -> str:
    """Why the run failed. Where the failure states no reason (the code server saw its worker
    exit, and said how in the event just before), that event's message."""
    last = instance.get_records_for_run(run.run_id, ascending=False, limit=PAGE).records
    entries = [record.event_log_entry for record in last]
    for index, entry in enumerate(entries):
        if entry.dagster_event_type == RUN_FAILURE:
            before = entries[index + 1] if index + 1 < len(entries) else None
            if entry.message == UNSTATED_FAILURE and before is not None:
                return before.message
            return entry.message
    return ""


def _failed_checks(
    instance: dg.DagsterInstance, watched: Watched, run: DagsterRun, link: str | None
) -> Iterator[str]:
    """An alert per failed check of the source in a run that succeeded."""
    records = instance.get_records_for_run(
        run.run_id, of_type=DagsterEventType.ASSET_CHECK_EVALUATION
    ).records
    for record in records:
        evaluation = record.event_log_entry.dagster_event.event_specific_data
        if evaluation.passed or evaluation.asset_key not in watched.assets:
            continue
        check = f"{evaluation.asset_key.to_user_string()}:{evaluation.check_name}"
        yield messages.failed_check(
            watched.source,
            evaluation.partition or _day(run),
            check,
            evaluation.severity.value,
            evaluation.description,
            messages.RunRef(run.run_id, link),
        )


def _day(run: DagsterRun) -> str:
    """The run's day, or its range of days."""
    if PARTITION_TAG in run.tags:
        return run.tags[PARTITION_TAG]
    start, end = (run.tags.get(tag) for tag in RANGE_TAGS)
    return f"{start}...{end}" if start and end else "no day"
