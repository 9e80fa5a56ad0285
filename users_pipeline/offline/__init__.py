"""The bundled GoRest-compatible server (`users-pipeline-gorest`) and the records it serves."""

from users_pipeline.offline.faults import Faults
from users_pipeline.offline.records import generate_resources, generate_users
from users_pipeline.offline.server import GoRestServer

__all__ = ["Faults", "GoRestServer", "generate_resources", "generate_users"]
