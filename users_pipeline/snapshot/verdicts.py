"""What the checks say about a day, in words a newcomer can act on: what failed, with the share
as a percentage, and the next step, the exact run config that loads the day anyway and the file
that changes it for good. The fetch's are here, the load's in `warehouse.guards`. No Dagster
imports (`orchestration.checks` makes them results)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date

from users_pipeline.snapshot.manifest import Manifest


@dataclass(frozen=True)
class Verdict:
    passed: bool
    description: str
    facts: dict[str, int | str]
    next_step: str | None = None  # markdown, when the check failed


@dataclass(frozen=True)
class Rerun:
    """How the day is materialized again with a threshold changed: `asset` for `day` (and the
    assets below it, with `downstream`), and the source's `defs_yaml` (its path to show), which
    sets the threshold for every day. By default the fetch, which runs on the day only."""

    asset: str
    day: date
    defs_yaml: str | None = None
    module: str = "users_pipeline"  # what `dagster ... -m` loads
    downstream: bool = True
    when: str = "again today (a day's snapshot is taken on that day only)"
    lasting: str = ""  # what the run leaves for later runs, said before the lasting setting

    def next_step(self, why: str, setting: str, value: float) -> str:
        config = {"ops": {self.asset: {"config": {setting: value}}}}
        launchpad = f"ops:\n  {self.asset}:\n    config:\n      {setting}: {value}"
        selection = f"{self.asset}*" if self.downstream else self.asset
        command = (
            f"dagster asset materialize -m {self.module} --select '{selection}'"
            f" --partition {self.day} --config-json '{json.dumps(config)}'"
        )
        where = f"`{self.defs_yaml}`" if self.defs_yaml else "the source's defs.yaml"
        return (
            f"{why} To load {self.day} anyway, materialize it {self.when} with"
            f" `{setting}: {value}`, in the launchpad:\n\n"
            f"```yaml\n{launchpad}\n```\n\nor on the command line:\n\n```bash\n{command}\n```\n\n"
            f"{self.lasting}To change it for good, set `{setting}` in {where}."
        )


def rejects_verdict(manifest: Manifest, max_reject_share: float, rerun: Rerun) -> Verdict:
    rejected, records = manifest.rejected_records, manifest.records
    share = rejected / max(records, 1)
    shown, limit = percents(share, max_reject_share)
    passed = share <= max_reject_share
    return Verdict(
        passed,
        f"{rejected:,} of {records:,} records rejected ({shown}, the limit is {limit})",
        {"rejected": rejected, "records": records, "share": shown, "limit": limit},
        None
        if passed
        else rerun.next_step(
            "If the API changed its records, update the record in the source's defs.yaml; if"
            " today's data is just bad and you accept it, raise the limit for this run.",
            "max_reject_share",
            enough_share(rejected, records),
        ),
    )


def crawl_verdict(manifest: Manifest, max_crawls: int, rerun: Rerun) -> Verdict:
    passed = manifest.crawl_complete
    return Verdict(
        passed,
        "; ".join(manifest.crawl_problems) or "complete",
        {
            "attempts": manifest.crawl_attempts,
            "records": manifest.records,
            "distinct_ids": manifest.distinct_ids,
            "total_at_start": _shown(manifest.total_at_start),
            "total_at_end": _shown(manifest.total_at_end),
            "repeated_ids": manifest.repeated_ids,
            "short_pages": str(manifest.short_pages),
        },
        None
        if passed
        else rerun.next_step(
            f"After {manifest.crawl_attempts} crawl(s) the day is not complete. A list that"
            " changes while it is crawled usually settles: try again later, or with more crawls."
            " A page size the API did not serve, or short pages, mean the API changed: check"
            " api.page_size.",
            "max_crawls",
            2 * max_crawls,
        ),
    )


def enough_share(part: int, whole: int) -> float:
    """The smallest whole percent of `whole` that lets `part` through."""
    return -(-part * 100 // max(whole, 1)) / 100


def percents(share: float, limit: float) -> tuple[str, str]:
    """Both as percentages, with one decimal unless more are needed to tell them apart."""
    for digits in range(1, 5):
        shown, limit_shown = f"{share:.{digits}%}", f"{limit:.{digits}%}"
        if shown != limit_shown or share == limit:
            break
    return shown, limit_shown


def _shown(total: int | None) -> int | str:
    return "not stated" if total is None else total
