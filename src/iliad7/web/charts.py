"""The geometry of the trial overview's charts, as plain data a template draws as inline SVG.

No Django here, no drawing library and no JavaScript (the Content-Security-Policy allows none from
outside the server, and none is needed): each function takes numbers and returns coordinates, path
strings and tick labels in the SVG's user units. Templates turn them into `<path>`, `<rect>` and
`<text>` elements; the numbers themselves are shown beside each chart as a table.

    chart = line_chart([Series("Total", ((0.0, 0.0), (3.0, 2.0)))], x=(0, 3), y=(0, 48),
                       x_label=str, references=(Reference(48, "Target 48"),))
    chart.series[0].path  # "M56.0 226.0 L..." in a 640 x 280 viewBox

Coordinates are rounded to one decimal so the same data always gives the same bytes.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

# The viewBox every chart is drawn in (the page scales it to the width it has).
WIDTH = 640
HEIGHT = 280
MARGIN_LEFT = 56
MARGIN_RIGHT = 132  # room for the labels at the ends of the lines
MARGIN_TOP = 16
MARGIN_BOTTOM = 40


def _r(value: float) -> float:
    return round(value, 1)


def nice_ticks(lo: float, hi: float, count: int = 5, *, min_step: float = 0.0) -> list[float]:
    """About `count` round tick values covering [lo, hi] (steps of 1, 2 or 5 times a power of ten, and at
    least `min_step`: 1 for whole days or whole participants)."""
    if not math.isfinite(lo) or not math.isfinite(hi):
        raise ValueError("tick bounds must be finite")
    if hi < lo:
        lo, hi = hi, lo
    if hi == lo:
        hi = lo + 1
    raw = max((hi - lo) / max(count, 1), min_step)
    power = 10 ** math.floor(math.log10(raw))
    step = next(m * power for m in (1, 2, 5, 10) if m * power >= raw)
    first = math.floor(lo / step) * step
    ticks: list[float] = []
    value = first
    while value <= hi + step * 1e-9:
        ticks.append(round(value, 10))
        value += step
    if ticks[-1] < hi:
        ticks.append(round(value, 10))
    return ticks


@dataclass(frozen=True)
class Scale:
    """A linear map from data values [lo, hi] to SVG positions [start, end]."""

    lo: float
    hi: float
    start: float
    end: float

    def __call__(self, value: float) -> float:
        span = self.hi - self.lo
        share = 0.5 if span == 0 else (value - self.lo) / span
        return _r(self.start + share * (self.end - self.start))


@dataclass(frozen=True)
class Tick:
    at: float  # the position in SVG units
    label: str


@dataclass(frozen=True)
class Series:
    """One line's data: (x, y) points in data units, in x order."""

    name: str
    points: tuple[tuple[float, float], ...]
    step: bool = False  # drawn as a staircase (a cumulative count changes on the day, not between days)


@dataclass(frozen=True)
class Band:
    """A shaded range around a line: (x, low, high) in data units, in x order."""

    name: str
    points: tuple[tuple[float, float, float], ...]


@dataclass(frozen=True)
class Reference:
    """A horizontal line at `value` (a target, a threshold) with its label."""

    value: float
    label: str


@dataclass(frozen=True)
class DrawnSeries:
    name: str
    index: int  # the series' colour and dash pattern (CSS class `series-N`)
    path: str
    dots: tuple[tuple[float, float], ...]
    label_x: float
    label_y: float


@dataclass(frozen=True)
class DrawnReference:
    label: str
    y: float
    label_y: float  # where its label goes (moved off the lines' labels)


@dataclass(frozen=True)
class LineChart:
    width: int
    height: int
    left: float
    right: float
    top: float
    bottom: float
    x_ticks: tuple[Tick, ...]
    y_ticks: tuple[Tick, ...]
    series: tuple[DrawnSeries, ...]
    bands: tuple[str, ...]  # closed paths
    references: tuple[DrawnReference, ...]

    # Where the template puts the axes' marks and words (so it does no arithmetic).
    @property
    def y_tick_label_x(self) -> float:
        return _r(self.left - 6)

    @property
    def x_tick_end(self) -> float:
        return _r(self.bottom + 4)

    @property
    def x_tick_label_y(self) -> float:
        return _r(self.bottom + 18)

    @property
    def x_title_y(self) -> float:
        return _r(self.bottom + 34)

    @property
    def end_label_x(self) -> float:
        return _r(self.right + 6)


def line_path(points: Sequence[tuple[float, float]], *, step: bool = False) -> str:
    """An SVG path through `points` (already in SVG units); a staircase when `step`."""
    if not points:
        return ""
    parts = [f"M{points[0][0]} {points[0][1]}"]
    previous_y = points[0][1]
    previous_x = points[0][0]
    for x, y in points[1:]:
        if step and y != previous_y and x != previous_x:
            parts.append(f"L{x} {previous_y}")
        parts.append(f"L{x} {y}")
        previous_x, previous_y = x, y
    return " ".join(parts)


def band_path(points: Sequence[tuple[float, float, float]]) -> str:
    """A closed SVG path along the highs, then back along the lows (points in SVG units: x, low, high)."""
    if not points:
        return ""
    top = [f"{'M' if i == 0 else 'L'}{x} {high}" for i, (x, _, high) in enumerate(points)]
    bottom = [f"L{x} {low}" for x, low, _ in reversed(points)]
    return " ".join([*top, *bottom, "Z"])


def _spread_labels(wanted: list[float], *, gap: float, lo: float, hi: float) -> list[float]:
    """Label positions as close to `wanted` as possible but `gap` apart (in the same order)."""
    order = sorted(range(len(wanted)), key=lambda i: wanted[i])
    placed = [0.0] * len(wanted)
    last = lo - gap
    for i in order:
        placed[i] = max(wanted[i], last + gap)
        last = placed[i]
    overflow = last - hi
    if overflow > 0:
        placed = [p - overflow for p in placed]
    return [_r(p) for p in placed]


def line_chart(
    series: Sequence[Series],
    *,
    x: tuple[float, float],
    y: tuple[float, float],
    x_label: Callable[[float], str],
    y_label: Callable[[float], str] = lambda v: f"{v:g}",
    x_ticks: Sequence[float] | None = None,
    bands: Sequence[Band] = (),
    references: Sequence[Reference] = (),
    y_tick_count: int = 5,
    y_min_step: float = 0.0,
) -> LineChart:
    """Lines (and bands, and horizontal reference lines) on shared axes over the data ranges `x` and `y`.

    The y axis starts at `y[0]` and reaches the nicest tick at or above the highest of `y[1]` and the
    references. Each line is labelled at its right end, the labels pushed apart so none overlap.
    """
    left, right = float(MARGIN_LEFT), float(WIDTH - MARGIN_RIGHT)
    top, bottom = float(MARGIN_TOP), float(HEIGHT - MARGIN_BOTTOM)
    y_hi = max([y[1], *(r.value for r in references)])
    y_values = nice_ticks(y[0], y_hi, y_tick_count, min_step=y_min_step)
    sx = Scale(x[0], x[1], left, right)
    sy = Scale(y_values[0], y_values[-1], bottom, top)
    xs = list(x_ticks) if x_ticks is not None else nice_ticks(x[0], x[1])
    xs = [v for v in xs if x[0] <= v <= x[1]]
    # The labels at the right end: one per line and one per reference line, pushed apart together.
    ends = [sy(s.points[-1][1]) if s.points else bottom for s in series]
    placed = _spread_labels([*ends, *(sy(r.value) for r in references)], gap=14.0, lo=top + 4, hi=bottom)
    label_ys, reference_ys = placed[: len(series)], placed[len(series) :]
    drawn = []
    for index, (one, label_y) in enumerate(zip(series, label_ys, strict=True)):
        points = [(sx(px), sy(py)) for px, py in one.points]
        if one.step and points:
            points.append((right, points[-1][1]))  # the count holds until the end of the axis
        drawn.append(
            DrawnSeries(
                name=one.name,
                index=index,
                path=line_path(points, step=one.step),
                dots=() if one.step else tuple(points),
                label_x=right + 6,
                label_y=label_y,
            )
        )
    return LineChart(
        width=WIDTH,
        height=HEIGHT,
        left=left,
        right=right,
        top=top,
        bottom=bottom,
        x_ticks=tuple(Tick(sx(v), x_label(v)) for v in xs),
        y_ticks=tuple(Tick(sy(v), y_label(v)) for v in y_values),
        series=tuple(drawn),
        bands=tuple(band_path([(sx(px), sy(lo), sy(hi)) for px, lo, hi in b.points]) for b in bands),
        references=tuple(
            DrawnReference(r.label, sy(r.value), label_y) for r, label_y in zip(references, reference_ys, strict=True)
        ),
    )


@dataclass(frozen=True)
class Segment:
    """One part of a bar: a site's share of a stage."""

    name: str
    index: int  # colour (CSS class `series-N`)
    x: float
    width: float
    count: int


@dataclass(frozen=True)
class Bar:
    label: str
    y: float
    height: float
    segments: tuple[Segment, ...]
    total: int
    total_x: float  # where the total's label goes, right of the bar
    text: str  # the label at the end of the bar

    @property
    def middle(self) -> float:
        return _r(self.y + self.height / 2)


@dataclass(frozen=True)
class BarChart:
    width: int
    height: int
    left: float
    right: float
    bars: tuple[Bar, ...]
    ticks: tuple[Tick, ...]
    top: float
    bottom: float

    @property
    def label_x(self) -> float:
        return _r(self.left - 8)

    @property
    def tick_label_y(self) -> float:
        return _r(self.bottom + 16)

    @property
    def track_width(self) -> float:
        return _r(self.right - self.left)


PALETTE = 6  # the CSS has this many colours (`series-0` to `series-5`); more segments reuse them in turn
BAR_HEIGHT = 22.0
BAR_GAP = 10.0
BAR_LEFT = 150.0  # room for the stage or site names


def stacked_bars(
    rows: Sequence[tuple[str, Sequence[int]]],
    names: Sequence[str],
    *,
    maximum: float | None = None,
    texts: Sequence[str] | None = None,
    tick_label: Callable[[float], str] = lambda v: f"{v:g}",
) -> BarChart:
    """Horizontal bars, one per row, each split into segments in the order of `names`.

    `rows` are (label, counts per name); the bars share one scale from 0 to `maximum` (the largest
    total when not given). `texts` replace the total shown at the end of each bar.
    """
    right = float(WIDTH - 90)
    totals = [sum(counts) for _, counts in rows]
    top = max([maximum or 0, *totals, 1])
    ticks = nice_ticks(0, top, 4, min_step=1)
    scale = Scale(0, ticks[-1], BAR_LEFT, right)
    bars = []
    for i, ((label, counts), total) in enumerate(zip(rows, totals, strict=True)):
        y = _r(MARGIN_TOP + i * (BAR_HEIGHT + BAR_GAP))
        running = 0
        segments = []
        for index, (name, count) in enumerate(zip(names, counts, strict=True)):
            if count:
                start, end = scale(running), scale(running + count)
                segments.append(Segment(name, index % PALETTE, start, _r(end - start), count))
            running += count
        text = texts[i] if texts is not None else str(total)
        bars.append(Bar(label, y, BAR_HEIGHT, tuple(segments), total, _r(scale(total) + 6), text))
    bottom = _r(MARGIN_TOP + len(rows) * (BAR_HEIGHT + BAR_GAP))
    return BarChart(
        width=WIDTH,
        height=int(bottom + MARGIN_BOTTOM),
        left=BAR_LEFT,
        right=right,
        bars=tuple(bars),
        ticks=tuple(Tick(scale(v), tick_label(v)) for v in ticks),
        top=float(MARGIN_TOP - 6),
        bottom=bottom,
    )


def share_bars(rows: Sequence[tuple[str, int, int]]) -> BarChart:
    """One bar per row (label, done, of): the share `done / of` on a 0-100 % scale, the rest left empty.

    A row with nothing to do (`of` 0) has no bar and the text "nothing due".
    """
    right = float(WIDTH - 160)  # room for "97 % (120 of 124)" after the bar
    scale = Scale(0, 100, BAR_LEFT, right)
    bars = []
    for i, (label, done, of) in enumerate(rows):
        y = _r(MARGIN_TOP + i * (BAR_HEIGHT + BAR_GAP))
        share = 100.0 * done / of if of else 0.0
        segments = (Segment(label, 0, BAR_LEFT, _r(scale(share) - BAR_LEFT), done),) if done and of else ()
        text = f"{percent(done, of)} ({done} of {of})" if of else "nothing due"
        bars.append(Bar(label, y, BAR_HEIGHT, segments, done, _r(right + 6), text))
    bottom = _r(MARGIN_TOP + len(rows) * (BAR_HEIGHT + BAR_GAP))
    return BarChart(
        width=WIDTH,
        height=int(bottom + MARGIN_BOTTOM),
        left=BAR_LEFT,
        right=right,
        bars=tuple(bars),
        ticks=tuple(Tick(scale(v), f"{v:g} %") for v in (0, 25, 50, 75, 100)),
        top=float(MARGIN_TOP - 6),
        bottom=bottom,
    )


def percent(done: int, of: int) -> str:
    """`done / of` as a whole percentage ("97 %"), never rounded up to 100 % while something is missing."""
    if not of:
        return "—"
    value = math.floor(100 * done / of) if done < of else 100
    return f"{value} %"
