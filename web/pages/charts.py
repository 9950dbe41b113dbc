"""Charts drawn on the server as SVG (no script, nothing fetched): the admin console's
volume per day. Geometry only; the template draws it."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

WIDTH, HEIGHT, GAP = 720, 180, 2  # the drawing's units (it scales with the page)


@dataclass(frozen=True)
class Bar:
    """One bar: where it stands, how tall, and its label for screen readers and tooltips."""

    x: float
    y: float
    width: float
    height: float
    label: str


@dataclass(frozen=True)
class BarChart:
    width: int
    height: int
    peak: int
    created: list[Bar]
    resolved: list[Bar]


def volume_chart(days: Sequence[dict[str, Any]]) -> BarChart:
    """Two bars a day (created, resolved) from analytics.volume's rows
    ({"date", "created", "resolved"}), scaled to the busiest day."""
    peak = max([1, *(max(d["created"], d["resolved"]) for d in days)])
    slot = WIDTH / max(1, len(days))
    bar = max(1.0, slot / 2 - GAP)
    created: list[Bar] = []
    resolved: list[Bar] = []
    for i, d in enumerate(days):
        for offset, key, bars in ((0.0, "created", created), (bar, "resolved", resolved)):
            h = HEIGHT * d[key] / peak
            bars.append(Bar(i * slot + offset, HEIGHT - h, bar, h, f"{d['date']}: {d[key]} {key}"))
    return BarChart(WIDTH, HEIGHT, peak, created, resolved)
