"""The sources, one folder each with a `defs.yaml` over `users_pipeline.components.RestSource`."""
