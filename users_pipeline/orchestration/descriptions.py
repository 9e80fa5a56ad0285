"""What each of a source's assets holds, as the Dagster UI describes it."""

from __future__ import annotations

from users_pipeline.contract.record import RecordContract
from users_pipeline.orchestration.names import SourceNames


def fetch_description(source: SourceNames) -> str:
    return (
        f"Every page of the {source.name} API for the day as one JSON Lines file in the data"
        " dir, with its rejects and a manifest proving the crawl complete."
    )


def upload_description(source: SourceNames) -> str:
    return (
        f"The day's records as JSON Lines at <prefix>/dt=YYYY-MM-DD/{source.name}.jsonl, its"
        " rejects and manifest under <prefix>/_rejects/ and <prefix>/_manifests/."
    )


def history_description(source: SourceNames) -> str:
    return (
        f"Every version of every {source.name} record, with valid_from and valid_to, derived"
        " from the archived days in date order whatever order they are loaded in; read a day"
        " with the table's _as_of(day) function."
    )


def load_description(source: SourceNames, contract: RecordContract) -> str:
    return (
        f"The {source.name} table, upserted by {contract.key.name} from the day's archived"
        " object (never from the API), with soft deletes in deleted_at. A range of days loads"
        " in one run, each day its own transaction and materialization."
    )
