"""A day's rejects counted by kind of reason, as a failed check shows them: the validator's own
rejects, written as the fetch writes them."""

from dataclasses import asdict

from users_pipeline.contract.field import Field
from users_pipeline.contract.record import RecordContract
from users_pipeline.contract.validation import RecordValidator
from users_pipeline.snapshot.jsonl import JsonLinesWriter
from users_pipeline.snapshot.rejects import count_reasons

CONTRACT = RecordContract(
    (
        Field("id", "bigint", key=True, minimum=1),
        Field("name", "text", max_length=5),
        Field("api_token", "text", pattern="tok-[a-z]+", nullable=True),
    )
)


def test_rejects_count_by_kind_with_one_example_and_no_secret(tmp_path):
    records = [
        {"id": 1, "name": "ok"},
        {"id": -2, "name": "ok"},
        {"id": -3, "name": "ok"},
        {"id": 4, "name": "much too long"},
        {"id": 5, "name": "ok", "api_token": "s3cr3t-value"},
        {"id": 1, "name": "again"},
        {"id": "x", "name": "ok"},
    ]
    _, rejects = RecordValidator(CONTRACT).split(records)
    path = tmp_path / "rejects.jsonl"
    with JsonLinesWriter(path) as writer:
        writer.write([asdict(reject) for reject in rejects])

    reasons = count_reasons(path, CONTRACT)

    assert [(c.kind, c.count, c.example) for c in reasons.counts] == [
        ("id is not a positive 64-bit integer", 3, "id -2 is not a positive 64-bit integer"),
        (
            "name is over the column limit 5",
            1,
            "name is 13 characters, over the column limit 5",
        ),
        (
            "api_token does not match tok-[a-z]+",
            1,
            "api_token *** does not match tok-[a-z]+",
        ),
        ("duplicate id in this snapshot", 1, "duplicate id 1 in this snapshot"),
    ]
    assert "s3cr3t" not in reasons.table()
    assert reasons.table().splitlines()[:3] == [
        "| reason | count | example |",
        "|---|---:|---|",
        "| id is not a positive 64-bit integer | 3 | id -2 is not a positive 64-bit integer |",
    ]
