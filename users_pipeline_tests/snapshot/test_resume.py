"""A crawl stopped half-way is continued by the next crawl of the day, in every pagination style,
over real HTTP against the list API: the day file and its rejects are byte for byte those of a
crawl that never stopped, and the server is asked for the pages after the stop plus the last
saved one again. Whatever the saved pages cannot prove joins the rest (a list that changed, a
cursor the API refuses, another crawl's journal, a torn last line) is crawled again from page 1.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path

import orjson
import pytest

from users_pipeline.contract.field import Field
from users_pipeline.contract.record import RecordContract
from users_pipeline.http.auth import APIKeyAuth
from users_pipeline.offline import Credentials, GoRestServer, generate_customers
from users_pipeline.snapshot.crawl import take_snapshot
from users_pipeline.storage.files import partial_path
from users_pipeline.storage.layout import DayFiles, SourceLayout
from users_pipeline_tests.http.harness import rest_client
from users_pipeline_tests.http.list_api import ListApi
from users_pipeline_tests.snapshot.test_audit import STYLES as PROVING_STYLES

DAY = date(2026, 11, 24)
CONTRACT = RecordContract((Field("id", "bigint", key=True), Field("name", "text")))
# Ten pages of ten, the last one short; the crawl stops after page STOP.
RECORDS, STOP = 95, 5
STYLES = {
    **PROVING_STYLES,
    "header_cursor": (None, {"type": "header_cursor", "cursor_key": "X-Next-Cursor"}),
    "single_page": (None, "single_page"),
}


class Stopped(Exception):
    """The crawl's process went away (a deploy, an out-of-memory kill) after a page was saved."""


def stop_after(number: int):
    def on_page(page, records: int) -> None:
        if page.number == number:
            raise Stopped

    return on_page


@pytest.fixture
def api():
    with ListApi(RECORDS) as api:
        api.records[22]["name"] = None  # a reject before the stop, and one after it
        api.records[66]["name"] = None
        yield api


def day_files(folder: Path) -> DayFiles:
    return SourceLayout("users").day_files(folder, DAY)


def snapshot(api: ListApi, style: str, files: DayFiles, **options):
    """The day's snapshot of the list API's `style`; the server's requests it took as well."""
    data_selector, paginator = STYLES[style]
    client_options = {"data_selector": data_selector, "paginator": paginator}
    client_options |= options.pop("client", {})
    asked = len(api.requests)
    with rest_client(f"{api.url}/{style}", **client_options) as client:
        manifest = take_snapshot(client, files, CONTRACT, **options)
    return manifest, len(api.requests) - asked


def stopped_crawl(api: ListApi, style: str, files: DayFiles, **client) -> None:
    with pytest.raises(Stopped):
        snapshot(api, style, files, on_page=stop_after(STOP), client=client)
    assert partial_path(files.records).exists() and files.journal.exists()


def day(files: DayFiles) -> tuple[bytes, bytes]:
    return files.records.read_bytes(), files.rejects.read_bytes()


@pytest.mark.parametrize("style", sorted(set(STYLES) - {"single_page"}))
def test_a_crawl_stopped_half_way_goes_on_after_its_last_saved_page(api, style, tmp_path):
    whole, whole_requests = snapshot(api, style, day_files(tmp_path / "whole"))
    files = day_files(tmp_path / "stopped")
    stopped_crawl(api, style, files)
    lines: list[str] = []

    manifest, requests = snapshot(api, style, files, on_resume=lines.append)

    assert lines == [f"resuming an interrupted crawl after page {STOP} (50 records saved)"]
    assert requests == whole_requests - (STOP - 1)  # page STOP again, then the rest
    assert day(files) == day(day_files(tmp_path / "whole"))  # rejects numbered as if unbroken
    assert (manifest.sha256, manifest.rejects_sha256) == (whole.sha256, whole.rejects_sha256)
    assert (manifest.pages, manifest.rejected_records) == (whole.pages, 2)
    assert (manifest.crawl_complete, manifest.crawl_attempts, manifest.pages_resumed) == (
        True, 1, STOP
    )  # fmt: skip
    assert not files.journal.exists() and not partial_path(files.records).exists()


def test_a_single_page_crawl_stopped_after_its_page_is_asked_for_once_more(api, tmp_path):
    files = day_files(tmp_path)
    with pytest.raises(Stopped):
        snapshot(api, "single_page", files, on_page=stop_after(1))

    manifest, requests = snapshot(api, "single_page", files)

    assert (requests, manifest.records, manifest.pages_resumed) == (1, RECORDS, 1)


def test_a_key_on_a_saved_page_and_again_after_the_stop_is_a_shift(api, tmp_path):
    files = day_files(tmp_path)
    stopped_crawl(api, "offset", files)
    api.records[80]["id"] = 15  # after the stop; the last saved page is served as it was
    drifts: list[list[str]] = []

    manifest, _ = snapshot(
        api, "offset", files, max_crawls=1, on_drift=lambda _, problems: drifts.append(problems)
    )

    assert manifest.pages_resumed == STOP and not manifest.crawl_complete
    assert drifts == [["1 ids appeared on more than one page (the list shifted)"]]


def test_a_list_changed_since_the_stop_is_crawled_again_from_page_1(api, tmp_path):
    files = day_files(tmp_path)
    stopped_crawl(api, "offset", files)
    del api.records[2]  # every later page moves by one record
    whole, whole_requests = snapshot(api, "offset", day_files(tmp_path / "whole"))
    lines: list[str] = []

    manifest, requests = snapshot(api, "offset", files, on_resume=lines.append)

    assert lines[1:] == [
        f"cannot resume (page {STOP} is not what it was: the list changed since the crawl"
        " stopped): crawling again from page 1"
    ]
    assert requests > whole_requests  # page 5 asked again (and pages fetched ahead of it)
    assert (manifest.sha256, manifest.pages_resumed, manifest.crawl_attempts) == (
        whole.sha256, 0, 1
    )  # fmt: skip


def test_a_cursor_the_api_no_longer_accepts_is_crawled_again_from_page_1(tmp_path):
    """The bundled server's cursors are opaque, and it answers one it never gave with a 400."""
    key = Credentials().api_key
    client = {"auth": APIKeyAuth(api_key=key, name="X-API-Key"), "params": {"limit": 10}}
    options = {**client, "data_selector": "data"}
    options["paginator"] = {
        "type": "cursor", "cursor_path": "next_cursor", "cursor_param": "cursor",
        "has_more_path": "has_more",
    }  # fmt: skip
    files = day_files(tmp_path)
    with GoRestServer([], customers=generate_customers(RECORDS)) as server:
        url = server.style_urls["cursor"]
        with pytest.raises(Stopped), rest_client(url, **options) as stopping:
            take_snapshot(stopping, files, CUSTOMERS, on_page=stop_after(STOP))
        journal = files.journal.read_bytes().splitlines(keepends=True)
        page = orjson.loads(journal[STOP - 1])  # the checkpoint the last saved page is asked from
        page["checkpoint"]["_next"] = "expired"
        journal[STOP - 1] = orjson.dumps(page) + b"\n"
        files.journal.write_bytes(b"".join(journal))
        lines: list[str] = []

        with rest_client(url, **options) as client:
            manifest = take_snapshot(client, files, CUSTOMERS, on_resume=lines.append)

    assert lines[1].startswith(f"cannot resume (page {STOP} cannot be asked for again: ")
    assert "400" in lines[1] and lines[1].endswith("): crawling again from page 1")
    assert key not in lines[1]
    assert (manifest.records, manifest.pages_resumed) == (RECORDS, 0)


CUSTOMERS = RecordContract((Field("id", "text", key=True), Field("name", "text")))


def test_another_crawl_of_the_day_starts_over(api, tmp_path):
    """Another page size names other pages: the journal of the first is not this crawl's."""
    files = day_files(tmp_path)
    stopped_crawl(api, "offset", files)
    lines: list[str] = []

    manifest, requests = snapshot(
        api, "offset", files, on_resume=lines.append,
        client={"paginator": {**STYLES["offset"][1], "limit": 20}},
    )  # fmt: skip

    assert (lines, requests, manifest.pages_resumed, manifest.records) == ([], 5, 0, RECORDS)


def test_a_torn_last_page_is_cut_off(api, tmp_path):
    """Killed while page 6 was written: its records half in the partial file, its journal line
    half written. Page 6 is asked for again, and the day is as if the crawl never stopped."""
    whole, _ = snapshot(api, "page_number", day_files(tmp_path / "whole"))
    files = day_files(tmp_path / "stopped")
    stopped_crawl(api, "page_number", files)
    with open(partial_path(files.records), "ab") as partial:
        partial.write(b'{"id":51,"name":"user 51"}\n{"id":52,"na')
    with open(files.journal, "ab") as journal:
        journal.write(b'{"number":6,"recor')

    manifest, requests = snapshot(api, "page_number", files)

    assert (manifest.sha256, manifest.pages_resumed) == (whole.sha256, STOP)
    assert requests == 10 - STOP + 1
