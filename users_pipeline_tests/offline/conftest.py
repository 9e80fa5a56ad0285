"""Fixtures for the fake GoRest, which must behave like GoRest or the pipeline tests prove nothing
about production.

Everything goes over real HTTP with `requests`, a client library independent of the pipeline's own.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import requests

from users_pipeline.offline import (
    GoRestServer,
    generate_customers,
    generate_resources,
    generate_users,
)


@pytest.fixture(scope="module")
def users() -> list[dict]:
    return generate_users(2751)


@pytest.fixture
def server(users: list[dict]) -> Iterator[GoRestServer]:
    with GoRestServer([dict(user) for user in users]) as running:
        yield running


@pytest.fixture(scope="module")
def related(users: list[dict]) -> dict[str, list[dict]]:
    """Posts, comments and todos as the command serves them next to 2751 users."""
    return generate_resources(users)


@pytest.fixture
def full_server(users: list[dict], related: dict[str, list[dict]]) -> Iterator[GoRestServer]:
    copies = {name: [dict(record) for record in listed] for name, listed in related.items()}
    with GoRestServer([dict(user) for user in users], resources=copies) as running:
        yield running


@pytest.fixture(scope="module")
def customers() -> list[dict]:
    """Five pages of ten, the last one short."""
    return generate_customers(47)


@pytest.fixture
def styles_server(customers: list[dict]) -> Iterator[GoRestServer]:
    """The customers in every style, OAuth2 tokens serving 3 requests each."""
    copies = [dict(customer) for customer in customers]
    with GoRestServer([], customers=copies, token_expires_after=3) as running:
        yield running


@pytest.fixture
def session() -> Iterator[requests.Session]:
    with requests.Session() as client:
        yield client
