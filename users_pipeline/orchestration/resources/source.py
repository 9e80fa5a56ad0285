"""A resource of one source, whose messages name that source's own settings."""

from typing import ClassVar, TypeVar

from dagster import ConfigurableResource

from users_pipeline.settings import SettingNames

Resource = TypeVar("Resource", bound="SourceResource")


class SourceResource(ConfigurableResource):
    """A resource whose messages name each setting as its source's YAML does (`USERS_API_URL`).

    The names are no run config, so the launchpad never shows them: each source gets a subclass
    holding them (`for_source`). Dagster rebuilds a resource from its config as `type(self)(...)`
    at run time, dropping private attributes but keeping the class, and every process that runs
    a step builds the same subclasses when it loads the definitions.
    """

    setting_names: ClassVar[SettingNames] = SettingNames()

    @classmethod
    def for_source(cls: type[Resource], names: SettingNames) -> type[Resource]:
        """This resource, with messages naming settings by `names`."""
        attributes = {"setting_names": names, "__module__": cls.__module__}
        return type(cls.__name__, (cls,), {**attributes, "__qualname__": cls.__qualname__})
