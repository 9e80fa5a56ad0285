"""A crawl's page journal, so a crawl killed half-way is continued by the next run of the day.

`pages.jsonl` beside the day file names the crawl (its `crawl_identity`: URL, style, fixed
parameters), then holds one line per page, appended once the page's records are in the day's
`.partial` file: the page's facts as the audit reads them, its records' count and end in the
file, and the crawl's checkpoint after it. A kill -9 between the records and their line leaves
records no line names; a resume cuts them off, and any torn last line with them.

A resumed crawl replays the saved pages through the same audit and validation as live ones (so
reject numbers and the duplicate audit go on as if the crawl had not stopped), then asks again
for the last saved page, from the checkpoint before it. That one request proves the rest will
join the saved pages: a list that shifted since (a record added or removed before that page)
serves it differently, and an expired cursor or a refused next link fails it; either way the
crawl starts again from page 1 (`ResumeRefused`). The journal is on the machine that fetched:
a step that moves to another machine starts over. No Dagster imports.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import BinaryIO

import orjson

from users_pipeline import exact_json
from users_pipeline.errors import PipelineError
from users_pipeline.http.errors import ApiError
from users_pipeline.http.paginators import Page, ResumeError
from users_pipeline.snapshot.page_source import PageSource
from users_pipeline.storage.files import partial_path


class ResumeRefused(PipelineError):
    """The saved pages cannot be continued: the crawl starts again from page 1."""


@dataclass(frozen=True)
class SavedPage:
    """A page the journal names: its facts (records left out) and where its records end."""

    page: Page
    records: int
    end: int


@dataclass(frozen=True)
class SavedCrawl:
    """The pages an interrupted crawl of the day left, each whole in the day's partial file."""

    pages: list[SavedPage]
    journal_bytes: int  # the journal up to the last line kept

    @property
    def end(self) -> int:
        return self.pages[-1].end

    @property
    def records(self) -> int:
        return sum(saved.records for saved in self.pages)


def saved_crawl(journal: Path, records: Path, identity: str) -> SavedCrawl | None:
    """What an interrupted crawl with `identity` left in `journal` and `records`' partial file;
    None when it left no whole page, or was another crawl (another URL, style or parameters)."""
    try:
        lines = journal.read_bytes().splitlines(keepends=True)
        size = partial_path(records).stat().st_size
    except FileNotFoundError:
        return None
    if not lines or _parsed(lines[0]) != {"crawl": identity}:
        return None
    pages: list[SavedPage] = []
    kept = len(lines[0])
    for line in lines[1:]:
        saved = _saved_page(line)
        previous_end = pages[-1].end if pages else 0
        if saved is None or saved.page.number != len(pages) + 1:
            break
        if not previous_end <= saved.end <= size:
            break
        pages.append(saved)
        kept += len(line)
    return SavedCrawl(pages, kept) if pages else None


def resumed_pages(
    client: PageSource, saved: SavedCrawl, records: Path
) -> Iterator[tuple[Page, bytes | None]]:
    """The crawl `saved` left, page by page as `(page, its lines in the partial file)`, then
    the live pages after it as `(page, None)`; ResumeRefused if the API does not serve the last
    saved page again as it was."""
    *before, last = saved.pages
    with open(partial_path(records), "rb") as partial:
        yield from ((page, data) for page, data in _replayed(before, partial))
        ((_, last_data),) = _replayed([last], partial, start=before[-1].end if before else 0)
    live = client.iter_pages(after=before[-1].page.checkpoint if before else None)
    try:
        again = next(live)
    except (ApiError, ResumeError) as error:
        raise ResumeRefused(f"page {last.page.number} cannot be asked for again: {error}") from None
    if exact_json.dumps_lines(again.records) != last_data:
        raise ResumeRefused(
            f"page {last.page.number} is not what it was: the list changed since the crawl stopped"
        )
    yield again, last_data
    yield from ((page, None) for page in live)


class JournalWriter:
    """Appends a line per page to the journal of a fresh crawl, or of the crawl `saved` left."""

    def __init__(self, path: Path, identity: str, saved: SavedCrawl | None) -> None:
        self.path, self._identity, self._saved = path, identity, saved
        self._file: BinaryIO | None = None
        self._pages = 0

    def __enter__(self) -> JournalWriter:
        if self._saved is None:
            self._file = open(self.path, "wb")
            self._append({"crawl": self._identity})
        else:
            self._file = open(self.path, "r+b")
            self._file.truncate(self._saved.journal_bytes)
            self._file.seek(self._saved.journal_bytes)
        return self

    def record(self, page: Page, end: int) -> None:
        """A page whose records end at byte `end` of the partial day file, already flushed."""
        facts = asdict(replace(page, records=[]))
        del facts["records"]
        self._append({**facts, "record_count": len(page.records), "end": end})
        self._pages += 1

    def _append(self, line: dict) -> None:
        assert self._file is not None
        self._file.write(orjson.dumps(line, option=orjson.OPT_APPEND_NEWLINE))
        self._file.flush()

    def __exit__(self, *exc_info: object) -> None:
        """Closed; a crawl that failed before it saved a page leaves no journal."""
        assert self._file is not None
        self._file.close()
        if exc_info[0] is not None and self._saved is None and not self._pages:
            self.path.unlink()


def _replayed(
    pages: list[SavedPage], partial: BinaryIO, start: int = 0
) -> Iterator[tuple[Page, bytes]]:
    for saved in pages:
        data = partial.read(saved.end - start)
        lines = data.splitlines()
        try:
            records = exact_json.loads(b"[" + b",".join(lines) + b"]")
        except exact_json.DecodeError:
            records = None
        if len(data) != saved.end - start or not isinstance(records, list):
            raise ResumeRefused(f"page {saved.page.number}'s saved records are unreadable")
        if len(records) != saved.records:
            raise ResumeRefused(f"page {saved.page.number} saved {len(records)} records")
        yield replace(saved.page, records=records), data
        start = saved.end


def _saved_page(line: bytes) -> SavedPage | None:
    facts = _parsed(line)
    if not isinstance(facts, dict) or not line.endswith(b"\n"):
        return None
    try:
        records, end = facts.pop("record_count"), facts.pop("end")
        return SavedPage(Page(records=[], **facts), records, end)
    except (KeyError, TypeError):
        return None


def _parsed(line: bytes) -> object:
    try:
        return orjson.loads(line)
    except orjson.JSONDecodeError:
        return None
