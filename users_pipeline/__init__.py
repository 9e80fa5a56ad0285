"""Daily ingestion of REST sources (GoRest's users by default) -> S3 archive -> Postgres, as
Dagster assets.

`defs` is loaded on first use, not on import: `dg check yaml` imports the component module to
read its schema, and must reach its own report of a broken `defs.yaml` instead of failing on
the definitions that YAML would build. (`dagster -m users_pipeline` finds `defs` all the same.)
"""

__all__ = ["defs"]


def __getattr__(name: str) -> object:
    if name == "defs":
        from users_pipeline.definitions import defs

        return defs
    raise AttributeError(f"module 'users_pipeline' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted([*globals(), "defs"])
