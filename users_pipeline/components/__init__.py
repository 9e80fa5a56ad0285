"""The `RestSource` component: `type: users_pipeline.components.RestSource` in a `defs.yaml`."""

from users_pipeline.components.rest_source import RestSource

__all__ = ["RestSource"]
