"""Deterministic Stripe-like customers, the records the pagination styles serve: text keys, a
nested address, free-form metadata and a decimal balance too long for a float."""

from __future__ import annotations

import functools
import random
import string
from collections.abc import Sequence
from decimal import Decimal
from typing import overload

from users_pipeline.offline.records import SHOWCASE_USERS, ascii_slug, random_person

ID_PREFIX = "cus_"
ID_ALPHABET = string.digits + string.ascii_letters
ID_LENGTH = 14
ID_SPACE = len(ID_ALPHABET) ** ID_LENGTH
# Odd and not a multiple of 31, so coprime with 62**14: multiplying by it permutes the id space.
ID_MULTIPLIER = 12_190_600_781_987_626_949_891_533
CURRENCIES = ("eur", "usd", "gbp", "inr")
CITIES = {
    "IE": ["Dublin", "Dún Laoghaire", "Cork"],
    "DE": ["München", "Köln", "Berlin"],
    "IN": ["Bengaluru", "Chennai", "Pune"],
    "NO": ["Tromsø", "Bodø", "Oslo"],
}
PLANS = ("free", "pro", "enterprise")
TAGS = ("beta", "vip", "partner", "nonprofit")
# 2026-01-01T00:00:00Z: `created` counts up from here, fixed so a seed always gives the same list,
# one customer in each step of seconds.
FIRST_CREATED = 1767225600
CREATED_STEP = 3600
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


class GeneratedCustomers(Sequence[dict]):
    """`count` customers, each made from the seed and its position when asked for, so a server
    of a million starts at once and holds none of them. `generate_customers` makes the same
    records as a list."""

    def __init__(self, count: int, seed: int = 0) -> None:
        self.count = count
        self.seed = seed
        self._id_offset = random.Random(f"customer ids:{seed}").randrange(ID_SPACE)

    def __len__(self) -> int:
        return self.count

    @overload
    def __getitem__(self, index: int) -> dict: ...

    @overload
    def __getitem__(self, index: slice) -> list[dict]: ...

    def __getitem__(self, index: int | slice) -> dict | list[dict]:
        if isinstance(index, slice):
            return [self._customer(position) for position in range(*index.indices(self.count))]
        position = index + self.count if index < 0 else index
        if not 0 <= position < self.count:
            raise IndexError(f"customer {index} of {self.count}")
        return self._customer(position)

    def _customer(self, position: int) -> dict:
        rng = random.Random(f"customers:{self.seed}:{position}")
        if position < len(SHOWCASE_CUSTOMERS):
            first, last, _gender = SHOWCASE_USERS[position]
            balance, address, metadata = SHOWCASE_CUSTOMERS[position]
            address = None if address is None else dict(address)
            metadata = dict(metadata)
        else:
            first, last, _gender = random_person(rng)
            balance, address, metadata = _balance(rng), _address(rng), _metadata(rng)
        return {
            "id": self._id(position),
            "object": "customer",
            "name": f"{first} {last}",
            "email": f"{_email_local_part(first, last)}@example.test",
            "currency": rng.choice(CURRENCIES),
            "delinquent": rng.random() < 0.1,
            "balance": balance,
            "created": FIRST_CREATED + position * CREATED_STEP + rng.randrange(CREATED_STEP),
            "address": address,
            "metadata": metadata,
        }

    def _id(self, position: int) -> str:
        """`cus_` and 14 base62 characters, unique by construction: positions are mixed by
        a multiplication that has an inverse modulo 62**14, so no two share an id."""
        number = (position * ID_MULTIPLIER + self._id_offset) % ID_SPACE
        characters = []
        for _ in range(ID_LENGTH):
            number, digit = divmod(number, len(ID_ALPHABET))
            characters.append(ID_ALPHABET[digit])
        return ID_PREFIX + "".join(characters)


def generate_customers(count: int, seed: int = 0) -> list[dict]:
    """`count` customers in creation order, each `{id, object, name, email, currency, delinquent,
    balance, created, address, metadata}`; `balance` is a `Decimal` (serve it with
    `bodies.exact_json`); ids are unique but not sorted, emails may repeat, as Stripe's do."""
    return GeneratedCustomers(count, seed)[:]


@functools.lru_cache(maxsize=4096)
def _email_local_part(first: str, last: str) -> str:
    return ascii_slug(f"{first} {last}")


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
