"""The project's own older formats, still read so that deployments keep working: all of it here.

Each part says when it can be deleted. Nothing else in the package knows these formats; the
modules that meet them (the JSON Lines reader, the archive layout, the table setup) ask this one.
No Dagster imports.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator

# --- Files ---
# Days archived before the archive became JSON Lines: the records as one JSON array (`[` on the
# first line, `{...},` lines, `]` on the last) at `<prefix>/dt=DAY/<name>.json`, the manifest
# beside them as `manifest.json`, and the rejects under `<prefix>/rejects/`. Delete once no
# archive a deployment may rebuild from holds a day in that layout (re-archive such days by
# loading and exporting them, or drop them).


def is_json_array_file(first_line: bytes) -> bool:
    """Whether a day file begins like the former JSON-array format."""
    return first_line.strip() == b"["


def json_array_batches(blocks: Iterable[bytes]) -> Iterator[bytes]:
    """The rest of a JSON array after its `[` line, as JSON arrays of the records in each block
    of whole lines: `{...},` lines, then `]` alone on the last."""
    for block in blocks:
        body = block.strip()
        if body == b"]" or body.endswith(b"\n]"):
            body = body[:-1].rstrip()
        if body := body.rstrip(b","):
            yield b"[" + body + b"]"


def json_array_day_keys(key: Callable[..., str], name: str, partition: str) -> tuple[str, ...]:
    """The records, rejects and manifest keys of a day archived in the former layout, built
    with the layout's own `key` (prefix and all)."""
    return (
        key(partition, f"{name}.json"),
        key("rejects", partition, "rejects.json"),
        key(partition, "manifest.json"),
    )
