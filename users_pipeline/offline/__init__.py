"""The bundled GoRest-compatible server (`users-pipeline-gorest`) and the records it serves:
GoRest's lists, and customers in every pagination style with the auth each is paired with."""

from users_pipeline.offline.customers import GeneratedCustomers, generate_customers
from users_pipeline.offline.faults import Faults
from users_pipeline.offline.records import generate_resources, generate_users
from users_pipeline.offline.server import GoRestServer
from users_pipeline.offline.styles import STYLES, Credentials

__all__ = [
    "STYLES",
    "Credentials",
    "Faults",
    "GeneratedCustomers",
    "GoRestServer",
    "generate_customers",
    "generate_resources",
    "generate_users",
]
