"""`dg scaffold defs users_pipeline.components.RestSource NAME`: a commented starter defs.yaml.

The starter loads as written (`dg check yaml` accepts it); a new source fills in its URL and its
record's fields, and uncomments the pagination and auth its API uses.
"""

from __future__ import annotations

from string import Template

import dagster as dg

STARTER = Template("""\
# The $name source: one REST list endpoint, fetched daily into the table `$name`.
# Settings name the environment variables they read (the first that is set wins), else a default.
type: $type_name

attributes:
  name: $name
  api:
    url: {env: [${prefix}_API_URL], required: true}
    # Where the records are in each body (a dotted path or $$.path); unset: a bare JSON array.
    # data_selector: data
    # How the list pages, in dlt's vocabulary (see the README's "Sources in YAML"); unset:
    # GoRest's X-Pagination-* headers with `page_size`. For example:
    # paginator: {type: cursor, cursor_path: next_cursor, has_more_path: has_more}
    # paginator: {type: offset, limit: 100, total_path: total}
    # paginator: {type: header_link}
    # Query parameters sent with every request.
    # params: {limit: 100}
    # Credentials come from environment variables only. For example:
    # auth: {type: bearer, token: {env: [${prefix}_TOKEN]}}
    # auth: {type: api_key, name: X-API-Key, location: header, api_key: {env: [${prefix}_KEY]}}
  archive:
    prefix: {env: [${prefix}_PREFIX], default: $name}
  postgres:
    table: {env: [${prefix}_TABLE], default: $name}
  # A style that states no total cannot prove a record gone: deletes are off unless turned on.
  # soft_deletes: true
  record:
    # The key: text (UUIDs, cus_...) or an integer. Then one line per field to load; `path`
    # reads a nested value, `json` keeps an object whole, `numeric` keeps decimals exact.
    - {name: id, type: text, key: true}
    # - {name: city, type: text, path: address.city, nullable: true}
""")


class RestSourceScaffolder(dg.Scaffolder):
    """Writes the starter `defs.yaml` into the new source's folder."""

    def scaffold(self, request: dg.ScaffoldRequest) -> None:
        name = request.target_path.name
        request.target_path.mkdir(parents=True, exist_ok=True)
        text = STARTER.substitute(name=name, prefix=name.upper(), type_name=request.type_name)
        (request.target_path / "defs.yaml").write_text(text, encoding="utf-8")
