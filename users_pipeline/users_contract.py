"""The users record, as `sources/users/defs.yaml` declares it: GoRest's five fields and the tool
that loaded them. (Read from the YAML, so the declaration has one home.)"""

from users_pipeline.definitions import source_component

USERS_CONTRACT = source_component("users").contract
