"""A day's rejects counted by kind of reason, from its `rejects.jsonl`: what a failed check
shows, so nobody has to open the file to learn why a day was refused. No Dagster imports."""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from users_pipeline import exact_json
from users_pipeline.contract.record import RecordContract
from users_pipeline.contract.validation import reason_kind

_MARKDOWN = re.compile(r"[\\`*_\[\]<>|#]")
SHOWN_KINDS = 10  # the most frequent kinds a table lists; the rest are summed on one line


@dataclass(frozen=True)
class ReasonCount:
    kind: str
    count: int
    example: str  # one reason of this kind, shortened, secrets masked


@dataclass(frozen=True)
class RejectReasons:
    """The kinds of reason of a day's rejects, the most frequent first."""

    counts: list[ReasonCount]

    def table(self) -> str:
        """A markdown table: reason, count, one example."""
        if not self.counts:
            return "No record was rejected."
        lines = ["| reason | count | example |", "|---|---:|---|"]
        lines += [
            f"| {_cell(c.kind)} | {c.count:,} | {_cell(c.example)} |"
            for c in self.counts[:SHOWN_KINDS]
        ]
        others = self.counts[SHOWN_KINDS:]
        if others:
            lines.append(f"| {len(others)} other kinds | {sum(c.count for c in others):,} | |")
        return "\n".join(lines)


def count_reasons(rejects: Path, contract: RecordContract) -> RejectReasons:
    """The reasons in a day's rejects file (lines of `record_number`, `reason`, `record`)."""
    counts: Counter[str] = Counter()
    examples: dict[str, str] = {}
    with rejects.open("rb") as lines:
        for line in lines:
            reject = exact_json.loads(line)
            kind, example = reason_kind(contract, reject["reason"], reject["record"])
            counts[kind] += 1
            examples.setdefault(kind, example)
    return RejectReasons([ReasonCount(kind, n, examples[kind]) for kind, n in counts.most_common()])


def _cell(text: str) -> str:
    """Text shown as itself in one markdown table cell (a pattern's `*` is no emphasis)."""
    return _MARKDOWN.sub(r"\\\g<0>", text.replace("\n", " "))
