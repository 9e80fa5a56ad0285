"""The crawl audit and validation agree on what an id is: only a valid id seen on two pages is
evidence that the list shifted. Pages are fed to both as `_take_snapshot` feeds them."""

from itertools import count

import pytest

from users_pipeline.contract.validation import RecordValidator
from users_pipeline.http.paginators import GoRestPaginator, PageResponse
from users_pipeline.settings import SettingNames
from users_pipeline.snapshot.audit import CrawlAudit
from users_pipeline_tests.conftest import USERS_CONTRACT

PAGE_SIZE = 3
MISSING = object()  # the record has no "id" field at all
EMAIL_NUMBERS = count(1)  # every record its own e-mail, so only ids can repeat
INVALID_IDS = [
    pytest.param("not-a-number", id="string"),
    pytest.param("7000001", id="numeric-string"),
    pytest.param(7000001.0, id="float"),
    pytest.param(True, id="bool"),
    pytest.param(None, id="null"),
    pytest.param(MISSING, id="missing"),
    pytest.param(0, id="zero"),
    pytest.param(-7000001, id="negative"),
    pytest.param(2**63, id="above-bigint"),
    pytest.param([7000001], id="list"),
]


def user(user_id: object) -> dict:
    record = {"name": "Zoë Ó Briain", "email": f"u{next(EMAIL_NUMBERS)}@example.test"}
    record.update(gender="female", status="active")
    return record if user_id is MISSING else {"id": user_id, **record}


def crawl(pages: list[list[dict]]) -> tuple[CrawlAudit, list[tuple[int, str]]]:
    """Audit and validate `pages` as one crawl; the rejects as (record number, reason)."""
    paginator = GoRestPaginator(PAGE_SIZE, SettingNames())
    audit = CrawlAudit(paginator.proofs, key=USERS_CONTRACT.key)
    validator = RecordValidator(USERS_CONTRACT)
    rejects: list[tuple[int, str]] = []
    total = sum(map(len, pages))
    for number, records in enumerate(pages, start=1):
        headers = {
            "X-Pagination-Total": str(total),
            "X-Pagination-Pages": str(len(pages)),
            "X-Pagination-Page": str(number),
            "X-Pagination-Limit": str(PAGE_SIZE),
        }
        audit.observe(paginator.update_state(PageResponse(headers, records, records)))
        _, rejected = validator.split(records, first_number=audit.records - len(records) + 1)
        rejects += [(reject.record_number, reject.reason) for reject in rejected]
    return audit, rejects


def id_reason(user_id: object) -> str:
    if user_id is MISSING:
        return "missing field(s) id"
    return "id is null" if user_id is None else f"id {user_id!r} is not a positive 64-bit integer"


@pytest.mark.parametrize("bad_id", INVALID_IDS)
def test_an_invalid_id_on_two_pages_is_two_rejects_not_a_shift(bad_id: object):
    audit, rejects = crawl(
        [[user(1), user(bad_id), user(2)], [user(3), user(4), user(5)], [user(bad_id), user(6)]]
    )

    assert audit.problems == []
    assert (audit.repeated_ids, audit.distinct_ids) == (0, 6)
    assert rejects == [(2, id_reason(bad_id)), (7, id_reason(bad_id))]


@pytest.mark.parametrize("look_alike", [True, 1.0, "1"], ids=["bool", "float", "string"])
def test_an_invalid_id_equal_in_value_to_a_valid_one_is_not_a_repeat(look_alike: object):
    """`True == 1.0 == 1` in Python and `hash("1")` is just a number: neither makes id 1."""
    audit, rejects = crawl([[user(1), user(2), user(3)], [user(look_alike), user(4)]])

    assert audit.problems == [] and audit.repeated_ids == 0
    assert rejects == [(4, id_reason(look_alike))]


def test_a_valid_id_twice_on_one_page_is_a_duplicate_record_not_a_shift():
    audit, rejects = crawl([[user(1), user(2), user(3)], [user(4), user(4), user(5)], [user(6)]])

    assert audit.problems == [] and audit.repeated_ids == 0
    assert rejects == [(5, "duplicate id 4 in this snapshot")]


@pytest.mark.parametrize(
    "pages",
    [
        pytest.param([[user(1), user(2), user(3)], [user(4), user(2)]], id="two-pages"),
        pytest.param(
            [[user(1), user(2), user(2)], [user(3), user(4), user(5)], [user(2)]],
            id="twice-on-one-page-and-again-on-another",
        ),
    ],
)
def test_a_valid_id_on_two_pages_is_a_shift(pages: list[list[dict]]):
    audit, _ = crawl(pages)

    assert audit.repeated_ids == 1
    assert "1 ids appeared on more than one page (the list shifted)" in audit.problems
