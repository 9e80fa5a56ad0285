"""The crawl audit and validation agree on what an id is: only a valid id seen on two pages is
evidence that the list shifted. Pages are fed to both as `_take_snapshot` feeds them. Each style
proves what it can, over real HTTP against the list API: offset its totals, page numbers their
page count, every style its end and no key twice; only a stated total proves the whole list."""

from collections.abc import Callable, Iterator
from itertools import count

import pytest

from users_pipeline.contract.validation import RecordValidator
from users_pipeline.http.paginators import CursorPaginator, GoRestPaginator, PageResponse
from users_pipeline.settings import SettingNames
from users_pipeline.snapshot.audit import CrawlAudit
from users_pipeline_tests.conftest import USERS_CONTRACT
from users_pipeline_tests.http.harness import rest_client
from users_pipeline_tests.http.list_api import ListApi

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


@pytest.fixture
def api() -> Iterator[ListApi]:
    with ListApi() as api:
        yield api


OFFSET = {"type": "offset", "limit": 10}
PAGE_NUMBER = {"type": "page_number", "base_page": 1, "total_path": "total_pages"}
CURSOR = {
    "type": "cursor",
    "cursor_path": "next_cursor",
    "cursor_param": "starting_after",
    "has_more_path": "has_more",
}
STYLES = {
    "offset": ("items", OFFSET),
    "page_number": ("data", PAGE_NUMBER),
    "cursor": ("results", CURSOR),
    "json_link": ("data", "json_link"),
    "header_link": (None, "header_link"),
}


def audit_crawl(
    api: ListApi, path: str, after_first_page: Callable[[], None] = lambda: None, **options
) -> CrawlAudit:
    """The audit of one crawl of the list API at `path`; `after_first_page` changes the list
    while it is crawled."""
    data_selector, paginator = STYLES[path]
    options = {"data_selector": data_selector, "paginator": paginator, **options}
    with rest_client(f"{api.url}/{path}", **options) as client:
        audit = CrawlAudit(client.proofs, key=USERS_CONTRACT.key)
        for page in client.iter_pages():
            audit.observe(page)
            if page.number == 1:
                after_first_page()
    return audit


@pytest.mark.parametrize("path", STYLES)
def test_an_undisturbed_crawl_is_complete_in_every_style(api: ListApi, path: str):
    audit = audit_crawl(api, path)

    assert audit.problems == [] and audit.reached_last_page
    assert (audit.records, audit.distinct_ids) == (25, 25)
    assert audit.proofs.states_total is (path == "offset")


def test_offsets_without_a_total_end_at_the_empty_page_after_a_short_one(api: ListApi):
    audit = audit_crawl(api, "offset", paginator={**OFFSET, "total_path": None})

    assert audit.pages_fetched == 4 and audit.problems == []
    assert not (audit.proofs.states_total and audit.complete)


def test_offset_proves_its_totals(api: ListApi):
    audit = audit_crawl(api, "offset", after_first_page=lambda: api.records.pop(0))

    assert (audit.total_at_start, audit.total_at_end) == (25, 24)
    assert audit.records == 24  # user 11 moved to the first page after it was fetched
    assert audit.problems == ["total changed during the crawl: 25 -> 24"]
    assert not (audit.proofs.states_total and audit.complete)


def test_an_api_serving_less_than_the_limit_is_caught_by_the_offset_totals(api: ListApi):
    """The list API does not know `size`: it serves its own 10 a page, and offsets of 20 step
    past half the records."""
    audit = audit_crawl(api, "offset", paginator={**OFFSET, "limit": 20, "limit_param": "size"})

    assert audit.problems == [
        "short or empty pages before the last: [1]",
        "fetched 15 records, the API reports 25",
    ]


def test_page_numbers_prove_their_page_count_but_not_the_whole_list(api: ListApi):
    more = [{"id": number, "name": f"user {number}"} for number in range(26, 36)]
    audit = audit_crawl(api, "page_number", after_first_page=lambda: api.records.extend(more))

    assert (audit.page_count_at_start, audit.page_count_at_end) == (3, 4)
    assert audit.problems == [
        "page count (api.paginator.total_path 'total_pages') changed during the crawl: 3 -> 4",
        "the crawl stopped at page 3, not the last page",  # pages 2 and 3 were known ahead
    ]
    assert not (audit.proofs.states_total and audit.complete)


def test_a_key_on_two_pages_shows_a_style_without_totals_that_the_list_shifted(api: ListApi):
    inserted = {"id": 100, "name": "user 100"}
    offset = {**OFFSET, "total_path": None}
    audit = audit_crawl(api, "offset", lambda: api.records.insert(0, inserted), paginator=offset)

    assert audit.problems == ["1 ids appeared on more than one page (the list shifted)"]
    assert not (audit.proofs.states_total and audit.complete)


def test_a_crawl_that_stops_before_its_styles_last_page_is_not_complete():
    paginator = CursorPaginator(SettingNames(), cursor_path="next")
    audit = CrawlAudit(paginator.proofs, key=USERS_CONTRACT.key)

    audit.observe(paginator.update_state(PageResponse({}, {"next": "b"}, [user(1)])))

    assert audit.problems == ["the crawl stopped at page 1, not the last page"]
