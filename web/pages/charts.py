"""Charts drawn on the server as SVG (no script, nothing fetched): the admin console's
volume per day. Geometry only; the template draws it."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

# The drawing's units (it scales with the page, keeping its proportions so text stays
# legible): the bars stand in the plot, the y-axis' labels to its left, the dates below.
WIDTH, HEIGHT, GAP = 720, 210, 2
LEFT, TOP, BOTTOM = 40, 8, 28  # room below for the dates, drawn larger on phones
PLOT_WIDTH, PLOT_HEIGHT = WIDTH - LEFT - 4, HEIGHT - TOP - BOTTOM
DATE_EVERY = 7  # a date under every seventh day, counted back from the last (today)


@dataclass(frozen=True)
class Bar:
    """One bar: where it stands, how tall, and its label for screen readers and tooltips."""

    x: float
    y: float
    width: float
    height: float
    label: str


@dataclass(frozen=True)
class Tick:
    """A label on an axis: where it is drawn (`at`: y for the y-axis, x for the x-axis)."""

    at: float
    label: str
    anchor: str = "middle"  # SVG text-anchor: a date centred under its day


@dataclass(frozen=True)
class BarChart:
    width: int
    height: int
    peak: int  # the busiest day's count
    top: int  # the scale's top (a round number at or above `peak`)
    left: int
    plot_top: int
    plot_bottom: int
    plot_right: int
    created: list[Bar]
    resolved: list[Bar]
    y_ticks: list[Tick]
    x_ticks: list[Tick]
    first: str  # the first and last dates shown, as labelled
    last: str


def scale_step(peak: int, most: int = 4) -> int:
    """A round step (1, 2, 5, 10, 20, 50, ...) that reaches `peak` in at most `most` steps."""
    magnitude: int = 10 ** max(0, int(math.log10(max(1, peak))) - 1)
    while True:
        for factor in (1, 2, 5):
            if peak <= factor * magnitude * most:
                return factor * magnitude
        magnitude *= 10


def day_label(day: str) -> str:
    """An ISO date as the axis says it: "3 Nov"."""
    d = date.fromisoformat(day)
    return f"{d.day} {d:%b}"


def volume_chart(days: Sequence[dict[str, Any]]) -> BarChart:
    """Two bars a day (created, resolved) from analytics.volume's rows
    ({"date": "YYYY-MM-DD", "created", "resolved"}), on a scale from 0 to a round number
    at or above the busiest day, with that scale's ticks and a date every week."""
    peak = max([0, *(max(d["created"], d["resolved"]) for d in days)])
    step = scale_step(peak)
    top = step * max(1, math.ceil(peak / step))
    slot = PLOT_WIDTH / max(1, len(days))
    bar = max(1.0, slot / 2 - GAP)
    bottom = TOP + PLOT_HEIGHT
    created: list[Bar] = []
    resolved: list[Bar] = []
    for i, d in enumerate(days):
        for offset, key, bars in ((0.0, "created", created), (bar, "resolved", resolved)):
            h = PLOT_HEIGHT * d[key] / top
            x = LEFT + i * slot + offset
            bars.append(Bar(x, bottom - h, bar, h, f"{d['date']}: {d[key]} {key}"))
    y_ticks = [Tick(bottom - PLOT_HEIGHT * v / top, str(v)) for v in range(0, top + 1, step)]
    # Counted back from the last day, so the newest day (today, where today's tickets
    # are) is always labelled: counted from the first, the last label fell a day or more
    # short of it and read as if today's bars were yesterday's.
    last_i = len(days) - 1
    x_ticks = [
        Tick(LEFT + (i + 1) * slot, day_label(d["date"]), "end")
        if i == last_i
        else Tick(LEFT + (i + 0.5) * slot, day_label(d["date"]))
        for i, d in enumerate(days)
        if (last_i - i) % DATE_EVERY == 0
    ]
    first, last = (day_label(days[0]["date"]), day_label(days[-1]["date"])) if days else ("", "")
    return BarChart(
        WIDTH,
        HEIGHT,
        peak,
        top,
        LEFT,
        TOP,
        bottom,
        LEFT + PLOT_WIDTH,
        created,
        resolved,
        y_ticks,
        x_ticks,
        first,
        last,
    )
