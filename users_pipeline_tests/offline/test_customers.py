"""Generated customers carry what other APIs' records carry: text keys, nested objects, free-form
metadata and decimals a float cannot hold; and go out with each decimal's exact text."""

from __future__ import annotations

import json
import re
from decimal import Decimal

import pytest

from users_pipeline.offline import GeneratedCustomers, generate_customers
from users_pipeline.offline.bodies import exact_json

CUSTOMER_ID = re.compile(r"cus_[0-9A-Za-z]{14}")
FIELDS = [
    "id",
    "object",
    "name",
    "email",
    "currency",
    "delinquent",
    "balance",
    "created",
    "address",
    "metadata",
]


def test_generated_customers_look_like_stripe_customers() -> None:
    customers = generate_customers(500)
    ids = [customer["id"] for customer in customers]
    assert generate_customers(500) == customers, "same seed, same customers"
    assert generate_customers(500, seed=1) != customers
    assert generate_customers(47) == customers[:47], "a count takes a prefix"
    assert all(list(customer) == FIELDS for customer in customers)
    assert all(CUSTOMER_ID.fullmatch(customer_id) for customer_id in ids)
    assert len(set(ids)) == len(ids)
    assert ids != sorted(ids), "text keys in no particular order"
    created = [customer["created"] for customer in customers]
    assert created == sorted(created)
    assert {customer["object"] for customer in customers} == {"customer"}
    assert {customer["currency"] for customer in customers} == {"eur", "usd", "gbp", "inr"}
    assert {customer["delinquent"] for customer in customers} == {True, False}
    assert all(customer["email"].isascii() for customer in customers)
    assert customers[0]["email"] == "zoe_o_briain@example.test"
    addresses = [customer["address"] for customer in customers]
    assert None in addresses
    assert any(address and address["city"] is None for address in addresses)
    assert all(list(address) == ["city", "country"] for address in addresses if address)
    metadata = [customer["metadata"] for customer in customers]
    assert {} in metadata and any("tags" in entry for entry in metadata)
    balances = [customer["balance"] for customer in customers]
    assert all(isinstance(balance, Decimal) for balance in balances)
    assert all(balance.as_tuple().exponent == -2 for balance in balances[3:])


def test_first_customers_hold_what_breaks_naive_code() -> None:
    first = generate_customers(3, seed=7)
    assert [customer["name"] for customer in first] == [
        "Zoë Ó Briain",
        "Jürgen Weiß",
        "Ærøskøbing Åse",
    ]
    assert [str(customer["balance"]) for customer in first] == [
        "12345678901234567890.123",
        "-0.10000000000000000555",
        "0.00",
    ]
    assert float(first[0]["balance"]) == 1.2345678901234567e19, "a float would round it"
    assert [customer["address"] for customer in first] == [
        {"city": "Dún Laoghaire", "country": "IE"},
        {"city": None, "country": "DE"},
        None,
    ]
    assert first[0]["metadata"] == {
        "plan": "enterprise",
        "tags": ["vip", "beta"],
        "limits": {"seats": 250},
    }


def test_generated_customers_are_made_when_asked_for() -> None:
    listed = generate_customers(60, seed=3)
    lazy = GeneratedCustomers(60, seed=3)
    assert len(lazy) == 60
    assert lazy[:] == list(lazy) == listed
    assert lazy[10:20] == listed[10:20]
    assert lazy[55:100] == listed[55:]
    assert lazy[::7] == listed[::7]
    assert (lazy[0], lazy[-1]) == (listed[0], listed[-1])
    with pytest.raises(IndexError):
        lazy[60]
    million = GeneratedCustomers(1_000_000)
    last_page = million[999_990:]
    assert len(last_page) == 10
    assert len({customer["id"] for customer in million[::997]}) == len(range(0, 1_000_000, 997))
    assert last_page[-1]["created"] > million[999_989]["created"]


def test_exact_json_writes_each_decimal_as_its_text() -> None:
    body = exact_json(
        {"balance": Decimal("12345678901234567890.123"), "list": [Decimal("-0.50"), "Zoë"]}
    )
    assert body == '{"balance":12345678901234567890.123,"list":[-0.50,"Zoë"]}'.encode()
    assert json.loads(body, parse_float=Decimal)["balance"] == Decimal("12345678901234567890.123")
    assert exact_json({"text": "\x00not a number"}) == b'{"text":"\\u0000not a number"}'
    with pytest.raises(TypeError, match="Decimal"):
        exact_json({"balance": Decimal("NaN")})
