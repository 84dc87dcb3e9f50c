"""Bar charts drawn on the server as inline SVG: no script, no CDN, readable on a phone and in print."""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass

from markupsafe import Markup, escape

_ids = itertools.count(1)


@dataclass(frozen=True)
class Series:
    label: str
    values: list[int]
    color: str


def _nice_max(value: int) -> int:
    """A round top for the axis: 1, 2, 5, 10, 20, 50 ..."""
    if value <= 0:
        return 1
    magnitude = 10 ** int(math.floor(math.log10(value)))
    for step in (1, 2, 5, 10):
        if value <= step * magnitude:
            return step * magnitude
    return 10 * magnitude


def stacked_bars(
    title: str, labels: list[str], series: list[Series], *, description: str, empty_text: str,
    annotations: list[str] | None = None, ticks: list[str] | None = None, axis_label: str = "", width: int = 420, height: int = 190,
) -> Markup:
    """One bar per label, the series stacked from the bottom; a <title> on each part for hover and
    screen readers, and the figures in `description`. `ticks` are the short texts under the bars."""
    ticks = ticks or labels
    uid = next(_ids)
    # Drawn about as wide as it is shown (a phone's width, half a desktop's), so the text stays legible.
    left, right, top, bottom = 30, 6, 28, 30
    plot_w, plot_h = width - left - right, height - top - bottom
    totals = [sum(s.values[i] for s in series) for i in range(len(labels))]
    top_value = _nice_max(max(totals, default=0))
    parts = [
        f'<svg class="chart" viewBox="0 0 {width} {height}" role="img" '
        f'aria-labelledby="chart{uid}-title chart{uid}-desc" xmlns="http://www.w3.org/2000/svg">',
        f'<title id="chart{uid}-title">{escape(title)}</title>',
        f'<desc id="chart{uid}-desc">{escape(description)}</desc>',
    ]
    for tick in (0, top_value // 2, top_value) if top_value % 2 == 0 else (0, top_value):
        y = top + plot_h - plot_h * tick / top_value
        parts.append(f'<line x1="{left}" x2="{width - right}" y1="{y:.1f}" y2="{y:.1f}" stroke="#d8d8d8"/>')
        parts.append(f'<text x="{left - 6}" y="{y + 4:.1f}" text-anchor="end" font-size="12" fill="#555">{tick}</text>')
    x_legend = left
    for s in series:
        parts.append(f'<rect x="{x_legend}" y="6" width="12" height="12" fill="{s.color}"/>')
        parts.append(f'<text x="{x_legend + 16}" y="16" font-size="12" fill="#333">{escape(s.label)}</text>')
        x_legend += 24 + 7 * len(s.label)
    n = max(len(labels), 1)
    band = plot_w / n
    bar = band * 0.7
    every = 1 if n <= 14 else math.ceil(n / 14)
    for i, label in enumerate(labels):
        x = left + i * band + (band - bar) / 2
        y = top + plot_h
        for s in series:
            value = s.values[i]
            if value <= 0:
                continue
            h = plot_h * value / top_value
            y -= h
            parts.append(
                f'<rect x="{x:.1f}" y="{y:.1f}" width="{bar:.1f}" height="{h:.1f}" fill="{s.color}">'
                f'<title>{escape(label)}: {value} {escape(s.label)}</title></rect>'
            )
        if annotations and annotations[i]:
            parts.append(f'<text x="{x + bar / 2:.1f}" y="{y - 4:.1f}" text-anchor="middle" font-size="11" '
                         f'fill="#333">{escape(annotations[i])}</text>')
        if i % every == 0:
            parts.append(f'<text x="{x + bar / 2:.1f}" y="{height - bottom + 16}" text-anchor="middle" '
                         f'font-size="11" fill="#555">{escape(ticks[i])}</text>')
    if axis_label:
        parts.append(f'<text x="{left - 6}" y="{height - bottom + 16}" text-anchor="end" font-size="11" '
                     f'fill="#555">{escape(axis_label)}</text>')
    if not any(totals):
        parts.append(f'<text x="{left + plot_w / 2:.1f}" y="{top + plot_h / 2:.1f}" text-anchor="middle" '
                     f'font-size="14" fill="#777">{escape(empty_text)}</text>')
    parts.append(f'<line x1="{left}" x2="{width - right}" y1="{top + plot_h}" y2="{top + plot_h}" stroke="#888"/>')
    parts.append("</svg>")
    return Markup("".join(parts))
