"""A small list API on 127.0.0.1 that pages the same records in every pagination style, one
path per style (`/cursor`, `/offset`, ...), so each style's crawl runs over real HTTP. `loops`
makes every style serve its second page again and again, as a broken API does."""

from __future__ import annotations

import threading
from urllib.parse import parse_qsl, urlsplit

import orjson

from users_pipeline_tests.http.harness import Handler, Server

PAGE_SIZE = 10  # what the API serves when a request does not say
Reply = tuple[object, list[tuple[str, str]]]  # the body (as JSON) and the extra headers


class ListApi:
    """`count` records with ids from 1 (users, so the crawl audit can read their keys),
    `PAGE_SIZE` a page unless the request asks otherwise; `requests` is every query it was sent,
    in order."""

    def __init__(self, count: int = 25) -> None:
        self.records = [{"id": number, "name": f"user {number}"} for number in range(1, count + 1)]
        self.loops = False
        self.next_url: str | None = None  # a next URL to give instead of the API's own
        self.requests: list[dict[str, str]] = []
        api = self

        class ListHandler(Handler):
            def do_GET(self) -> None:
                parts = urlsplit(self.path)
                query = dict(parse_qsl(parts.query))
                api.requests.append(query)
                body, headers = getattr(api, parts.path.strip("/"))(query)
                content = orjson.dumps(body)
                self.answer(200, content, [("Content-Type", "application/json"), *headers])

        self._server = Server(ListHandler)
        self.url = f"http://127.0.0.1:{self._server.port}"

    def __enter__(self) -> ListApi:
        # A short poll, so that stopping the server at the end of a test takes no time.
        serve = self._server.httpd.serve_forever
        threading.Thread(target=serve, kwargs={"poll_interval": 0.01}, daemon=True).start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._server.__exit__(*exc_info)

    def page(self, start: int, size: int) -> list[dict]:
        return self.records[start : start + size]

    def page_count(self, size: int) -> int:
        return -(-len(self.records) // size)

    def page_number(self, query: dict[str, str]) -> Reply:
        """Pages from 1, `per_page` records, the page count at `total_pages`."""
        size = int(query.get("per_page", PAGE_SIZE))
        number = 2 if self.loops else int(query.get("page", 1))
        more = number < self.page_count(size)
        body = {"data": self.page((number - 1) * size, size), "total_pages": self.page_count(size)}
        return {**body, "has_more": more}, []

    def offset(self, query: dict[str, str]) -> Reply:
        size = int(query.get("limit", PAGE_SIZE))
        start = size if self.loops else int(query.get("offset", 0))
        return {"items": self.page(start, size), "total": len(self.records)}, []

    def cursor(self, query: dict[str, str]) -> Reply:
        """Stripe's cursor: the last id served, as text, in `starting_after`; `has_more` says
        whether another page follows (under `meta` when `nested` is asked)."""
        after = query.get("starting_after")
        ids = [f"cus_{record['id']}" for record in self.records]
        start = 0 if after is None else 1 + ids.index(after)
        start = PAGE_SIZE if self.loops else start
        records = self.page(start, PAGE_SIZE)
        more = start + PAGE_SIZE < len(self.records)
        cursor = ids[start + len(records) - 1] if more else None
        body = {"results": records, "has_more": more, "next_cursor": cursor}
        return {"meta": body} if query.get("nested") else body, []

    def _number_and_next(self, query: dict[str, str], path: str) -> tuple[int, str | None]:
        number = int(query.get("page", 1))
        following = 2 if self.loops else number + 1
        if following > self.page_count(PAGE_SIZE):
            return number, None
        return number, self.next_url or f"{self.url}/{path}?page={following}"

    def json_link(self, query: dict[str, str]) -> Reply:
        """The next page's URL in the body (relative when `relative` is asked)."""
        number, next_url = self._number_and_next(query, "json_link")
        if next_url and query.get("relative"):
            next_url = urlsplit(next_url)._replace(scheme="", netloc="").geturl()
        return {"data": self.page((number - 1) * PAGE_SIZE, PAGE_SIZE), "next": next_url}, []

    def header_link(self, query: dict[str, str]) -> Reply:
        """GitHub's Link header: several links, the next one among them when there is one."""
        number, next_url = self._number_and_next(query, "header_link")
        last = f'<{self.url}/header_link?page={self.page_count(PAGE_SIZE)}>; rel="last"'
        links = [f'<{next_url}>; rel="next"', last] if next_url else [last]
        return self.page((number - 1) * PAGE_SIZE, PAGE_SIZE), [("Link", ", ".join(links))]

    def header_cursor(self, query: dict[str, str]) -> Reply:
        start = int(query.get("cursor", 0))
        following = PAGE_SIZE if self.loops else start + PAGE_SIZE
        headers = [("X-Next-Cursor", str(following))] if following < len(self.records) else []
        return self.page(start, PAGE_SIZE), headers

    def single_page(self, query: dict[str, str]) -> Reply:
        return self.records, []
