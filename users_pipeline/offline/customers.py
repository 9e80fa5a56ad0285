"""Deterministic Stripe-like customers, the records the pagination styles serve: text keys, a
nested address, free-form metadata and a decimal balance too long for a float."""

from __future__ import annotations

import random
import string
from decimal import Decimal

from users_pipeline.offline.records import SHOWCASE_USERS, ascii_slug, random_person, unique_email

ID_PREFIX = "cus_"
ID_ALPHABET = string.digits + string.ascii_letters
ID_LENGTH = 14
CURRENCIES = ("eur", "usd", "gbp", "inr")
CITIES = {
    "IE": ["Dublin", "Dún Laoghaire", "Cork"],
    "DE": ["München", "Köln", "Berlin"],
    "IN": ["Bengaluru", "Chennai", "Pune"],
    "NO": ["Tromsø", "Bodø", "Oslo"],
}
PLANS = ("free", "pro", "enterprise")
TAGS = ("beta", "vip", "partner", "nonprofit")
# 2026-01-01T00:00:00Z: `created` counts up from here, fixed so a seed always gives the same list.
FIRST_CREATED = 1767225600
# The first customers, whatever the seed: a balance a float rounds (1.2345678901234567e+19),
# another below one cent that it cannot hold either, a city missing, an address missing.
SHOWCASE_CUSTOMERS = [
    (
        Decimal("12345678901234567890.123"),
        {"city": "Dún Laoghaire", "country": "IE"},
        {"plan": "enterprise", "tags": ["vip", "beta"], "limits": {"seats": 250}},
    ),
    (Decimal("-0.10000000000000000555"), {"city": None, "country": "DE"}, {"plan": "free"}),
    (Decimal("0.00"), None, {}),
]


def generate_customers(count: int, seed: int = 0) -> list[dict]:
    """`count` customers in creation order, each `{id, object, name, email, currency, delinquent,
    balance, created, address, metadata}`; `balance` is a `Decimal` (serve it with
    `bodies.exact_json`), ids like `cus_` + 14 base62 characters are unique but not sorted."""
    rng = random.Random(f"customers:{seed}")
    customers: list[dict] = []
    ids: set[str] = set()
    emails: dict[str, int] = {}
    created = FIRST_CREATED
    for index in range(count):
        if index < len(SHOWCASE_CUSTOMERS):
            first, last, _gender = SHOWCASE_USERS[index]
            balance, address, metadata = SHOWCASE_CUSTOMERS[index]
            address = None if address is None else dict(address)
            metadata = dict(metadata)
        else:
            first, last, _gender = random_person(rng)
            balance, address, metadata = _balance(rng), _address(rng), _metadata(rng)
        customers.append(
            {
                "id": _unique_id(rng, ids),
                "object": "customer",
                "name": f"{first} {last}",
                "email": unique_email(ascii_slug(f"{first} {last}"), emails),
                "currency": rng.choice(CURRENCIES),
                "delinquent": rng.random() < 0.1,
                "balance": balance,
                "created": created,
                "address": address,
                "metadata": metadata,
            }
        )
        created += rng.randint(1, 86_400)
    return customers


def _unique_id(rng: random.Random, taken: set[str]) -> str:
    while True:
        customer_id = ID_PREFIX + "".join(rng.choices(ID_ALPHABET, k=ID_LENGTH))
        if customer_id not in taken:
            taken.add(customer_id)
            return customer_id


def _balance(rng: random.Random) -> Decimal:
    """Cents, mostly a credit, sometimes owed: exactly two decimal places."""
    return Decimal(rng.randint(-50_000, 5_000_000)).scaleb(-2)


def _address(rng: random.Random) -> dict | None:
    if rng.random() < 0.1:
        return None
    country = rng.choice(list(CITIES))
    city = rng.choice(CITIES[country]) if rng.random() < 0.9 else None
    return {"city": city, "country": country}


def _metadata(rng: random.Random) -> dict:
    if rng.random() < 0.3:
        return {}
    metadata: dict = {"plan": rng.choice(PLANS)}
    if rng.random() < 0.5:
        metadata["tags"] = sorted(rng.sample(TAGS, rng.randint(1, 3)))
    return metadata
