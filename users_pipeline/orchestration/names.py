"""What one source's definitions are called, derived from its name in one place."""

from __future__ import annotations

from dataclasses import dataclass

from users_pipeline.snapshot.days import DayAssets


@dataclass(frozen=True)
class SourceNames:
    """A source's assets are `raw_<name>_json`, `s3_<name>_object`, `pg_<name>_table` and
    `pg_<name>_history`; it
    reads its own three resources, under the keys its YAML gives them."""

    name: str
    api: str
    archive: str
    postgres: str

    @classmethod
    def of(
        cls,
        name: str,
        api: str | None = None,
        archive: str | None = None,
        postgres: str | None = None,
    ) -> SourceNames:
        """By default the resources are `<name>_api`, `<name>_archive` and `<name>_postgres`."""
        return cls(
            name,
            api=api or f"{name}_api",
            archive=archive or f"{name}_archive",
            postgres=postgres or f"{name}_postgres",
        )

    @property
    def assets(self) -> DayAssets:
        return DayAssets(fetch=self.raw, upload=self.object, table=self.table)

    @property
    def raw(self) -> str:
        return f"raw_{self.name}_json"

    @property
    def object(self) -> str:
        return f"s3_{self.name}_object"

    @property
    def table(self) -> str:
        return f"pg_{self.name}_table"

    @property
    def history(self) -> str:
        return f"pg_{self.name}_history"
