"""Retention metrics shared by every replica and by CLI sweeps (G16, G20: counts only).

Deletion counts are kept in the store (`retention:counters`, one field per
label set), not only in the process that deleted: a CLI sweep or another
replica adds to the same numbers, and every replica's `/metrics` catches up
with them (the Prometheus counter is advanced by the difference it has not
shown yet). The last sweep's gauges travel in `retention:summary`.
"""

from __future__ import annotations

import json
from collections.abc import Iterable

from gateway.metrics import DELETION_RESULTS, PLATFORMS, RECORDING_STATES, Metrics
from gateway.policy.model import PURPOSES
from gateway.store.base import Store

COUNTERS_KEY = "retention:counters"
SUMMARY_KEY = "retention:summary"
PURPOSE_LABELS = (*PURPOSES, "undeclared")


def known_label_sets() -> list[tuple[str, str, str]]:
    """Registry gauges set from a sweep's tally ("deleted" comes from the counters)."""
    return [(p, purpose, s) for p in PLATFORMS for purpose in PURPOSE_LABELS
            for s in RECORDING_STATES if s != "deleted"]


KNOWN_LABEL_SETS = frozenset(known_label_sets())


class RetentionCounters:
    """Deletion counters in the store, mirrored into this process's metrics."""

    def __init__(self, store: Store, metrics: Metrics) -> None:
        self.store = store
        self.metrics = metrics
        self._shown: dict[str, int] = {}

    async def deletion(self, platform: str, result: str, purpose: str) -> None:
        platform = platform if platform in PLATFORMS else "bbb"
        await self.store.hincrby(COUNTERS_KEY, f"deletions:{platform}:{result}", 1)
        if result in ("deleted", "not_found"):
            label = purpose if purpose in PURPOSE_LABELS else "undeclared"
            await self.store.hincrby(COUNTERS_KEY, f"deleted:{platform}:{label}", 1)
        await self.sync()

    async def sync(self) -> None:
        """Show what the store counted; a store that lost its counters is topped up
        from what this replica has shown, so the counters never go back."""
        raw = await self.store.hgetall(COUNTERS_KEY)
        for platform in PLATFORMS:
            for result in DELETION_RESULTS:
                field = f"deletions:{platform}:{result}"
                value = await self._value(field, raw)
                self.metrics.deletions.labels(platform=platform, result=result).inc(
                    max(0, value - self._shown.get(field, 0)))
                self._shown[field] = max(value, self._shown.get(field, 0))
            for purpose in PURPOSE_LABELS:
                field = f"deleted:{platform}:{purpose}"
                value = await self._value(field, raw)
                self._shown[field] = max(value, self._shown.get(field, 0))
                self.metrics.recordings.labels(platform=platform, purpose=purpose,
                                               state="deleted").set(self._shown[field])

    async def _value(self, field: str, raw: dict[str, bytes]) -> int:
        try:
            value = int(raw.get(field, b"0"))
        except ValueError:
            value = 0
        shown = self._shown.get(field, 0)
        if value < shown:  # the store was lost: put back what this replica knows
            value = await self.store.hincrby(COUNTERS_KEY, field, shown - value)
        return value


def set_recording_gauges(metrics: Metrics, counts: Iterable[dict[str, object]]) -> None:
    for entry in counts:
        labels = (str(entry["platform"]), str(entry["purpose"]), str(entry["state"]))
        if labels in KNOWN_LABEL_SETS:
            count = entry["count"]
            metrics.recordings.labels(*labels).set(count if isinstance(count, int | float)
                                                   else 0)


def set_summary_gauges(metrics: Metrics, summary: dict[str, object]) -> None:
    def number(name: str) -> float:
        value = summary.get(name)
        return float(value) if isinstance(value, int | float) else 0.0

    metrics.recordings_overdue.set(number("overdue"))
    metrics.deletion_failing.set(number("failing"))
    metrics.deletion_alerting.set(number("alerting"))
    metrics.next_due.set(number("next_due"))
    metrics.last_sweep.set(number("last_sweep"))
    metrics.objections_open.set(number("objections_open"))
    counts = summary.get("counts")
    if isinstance(counts, list):
        set_recording_gauges(metrics, (c for c in counts if isinstance(c, dict)))


async def read_summary(store: Store) -> dict[str, object] | None:
    raw = await store.get(SUMMARY_KEY)
    try:
        summary = json.loads(raw) if raw else None
    except ValueError:
        return None
    return summary if isinstance(summary, dict) else None
