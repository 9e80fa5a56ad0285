"""Daily users ingestion: GoRest-style REST API -> S3 archive -> Postgres, as Dagster assets."""

from users_pipeline.definitions import defs

__all__ = ["defs"]
