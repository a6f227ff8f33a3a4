"""The load test's report as one self-contained HTML page.

The page draws its plots as inline SVG from the JSON report of
:mod:`bench.loadtest` (no script, no style sheet, nothing fetched):
latency percentiles, delivered messages and the server's CPU and
resident set, each against the offered load, one line a server. Render
a saved report with::

    python -m bench.loadtest.report REPORT.json PAGE.html
"""

from __future__ import annotations

import html
import json
import math
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

__all__ = ["chart", "render_html"]

WIDTH, HEIGHT = 560, 300
LEFT, RIGHT, TOP, BOTTOM = 64, 150, 30, 44
COLOURS = ("#1f6fb2", "#d1495b", "#2e933c", "#edae49", "#6c4f9c", "#555555")
Series = dict[str, list[tuple[float, float]]]


def _ticks(high: float, count: int = 5) -> list[float]:
    """Round tick values from 0 to at least ``high``."""
    if high <= 0:
        return [0.0, 1.0]
    raw = high / count
    magnitude = 10 ** math.floor(math.log10(raw))
    step = next(
        factor * magnitude for factor in (1, 2, 2.5, 5, 10) if factor * magnitude >= raw
    )
    return [step * index for index in range(math.ceil(high / step) + 1)]


def _label(value: float) -> str:
    return f"{value:,.0f}" if value >= 100 or value == int(value) else f"{value:g}"


def chart(title: str, x_label: str, y_label: str, series: Series) -> str:
    """An SVG line chart of ``series`` (name to points), axes from 0."""
    points = [point for line in series.values() for point in line]
    x_ticks = _ticks(max((x for x, _ in points), default=1.0))
    y_ticks = _ticks(max((y for _, y in points), default=1.0))
    plot_w = WIDTH - LEFT - RIGHT
    plot_h = HEIGHT - TOP - BOTTOM

    def place(x: float, y: float) -> tuple[float, float]:
        return (
            LEFT + x / x_ticks[-1] * plot_w,
            TOP + plot_h - y / y_ticks[-1] * plot_h,
        )

    text = html.escape
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" '
        f'height="{HEIGHT}" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" '
        f'aria-label="{text(title)}" font-family="sans-serif" font-size="11">',
        f'<text x="{LEFT}" y="16" font-size="13" font-weight="bold">'
        f"{text(title)}</text>",
    ]

    # the grid and the axes' labels
    for value in y_ticks:
        _, y = place(0, value)
        parts.append(
            f'<line x1="{LEFT}" y1="{y:.1f}" x2="{LEFT + plot_w}" y2="{y:.1f}" '
            'stroke="#ddd"/>'
            f'<text x="{LEFT - 6}" y="{y + 4:.1f}" text-anchor="end">'
            f"{_label(value)}</text>"
        )
    for value in x_ticks:
        x, _ = place(value, 0)
        parts.append(
            f'<line x1="{x:.1f}" y1="{TOP + plot_h}" x2="{x:.1f}" '
            f'y2="{TOP + plot_h + 4}" stroke="#333"/>'
            f'<text x="{x:.1f}" y="{TOP + plot_h + 16}" text-anchor="middle">'
            f"{_label(value)}</text>"
        )
    parts.append(
        f'<rect x="{LEFT}" y="{TOP}" width="{plot_w}" height="{plot_h}" '
        'fill="none" stroke="#333"/>'
        f'<text x="{LEFT + plot_w / 2}" y="{HEIGHT - 6}" text-anchor="middle">'
        f"{text(x_label)}</text>"
        f'<text transform="translate(14 {TOP + plot_h / 2}) rotate(-90)" '
        f'text-anchor="middle">{text(y_label)}</text>'
    )

    # a line and its dots a series, and the legend
    for index, (name, line) in enumerate(series.items()):
        colour = COLOURS[index % len(COLOURS)]
        placed = [place(x, y) for x, y in line]
        if len(placed) > 1:
            path = " ".join(f"{x:.1f},{y:.1f}" for x, y in placed)
            parts.append(
                f'<polyline points="{path}" fill="none" stroke="{colour}" '
                'stroke-width="2"/>'
            )
        parts.extend(
            f'<circle cx="{x:.1f}" cy="{y:.1f}" r="3" fill="{colour}"/>'
            for x, y in placed
        )
        legend_y = TOP + 8 + index * 16
        parts.append(
            f'<rect x="{LEFT + plot_w + 12}" y="{legend_y - 8}" width="10" '
            f'height="10" fill="{colour}"/>'
            f'<text x="{LEFT + plot_w + 28}" y="{legend_y + 1}">{text(name)}</text>'
        )
    parts.append("</svg>")
    return "".join(parts)


def _series(servers: dict[str, Any], pick: Any, suffix: str = "") -> Series:
    return {
        # the step halfway back comes last: in order of rate for the lines
        f"{kind}{suffix}": sorted(
            ((step["rate"], pick(step)) for step in found["steps"]),
            key=lambda point: point[0],
        )
        for kind, found in servers.items()
    }


def _table(servers: dict[str, Any]) -> str:
    head = (
        "<tr><th>server</th><th>calls/s</th><th>msg/s</th><th>p50 ms</th>"
        "<th>p99 ms</th><th>max ms</th><th>lost</th><th>dup</th>"
        "<th>unanswered</th><th>errors</th><th>resumes</th><th>CPU %</th>"
        "<th>RSS MiB</th><th>held</th></tr>"
    )
    rows = [head]
    for kind, found in servers.items():
        for step in found["steps"]:
            latency = step["latency_ms"]
            cells = (
                kind,
                f"{step['rate']:g}",
                f"{step['delivered_per_s']:g}",
                f"{latency['p50']:g}",
                f"{latency['p99']:g}",
                f"{latency['max']:g}",
                step["lost"],
                step["duplicated"],
                step["unanswered"],
                sum(step["errors"].values()),
                step["reconnects"],
                f"{step['server_cpu_percent']:g}",
                f"{step['server_rss_bytes'] / 2**20:.0f}",
                "yes" if step["held"] else "no",
            )
            rows.append(
                "<tr>"
                + "".join(f"<td>{html.escape(str(cell))}</td>" for cell in cells)
                + "</tr>"
            )
    return "<table>" + "".join(rows) + "</table>"


def render_html(report: dict[str, Any]) -> str:
    """The whole page for a JSON report of :mod:`bench.loadtest`."""
    servers: dict[str, Any] = report["servers"]
    scenario = report["scenario"]
    latency: Series = {}
    for percentile in ("p50", "p99"):
        latency |= _series(
            servers, lambda step, p=percentile: step["latency_ms"][p], f" {percentile}"
        )
    charts = [
        chart("Latency", "offered calls/s", "ms", latency),
        chart(
            "Delivered messages",
            "offered calls/s",
            "messages/s",
            _series(servers, lambda step: step["delivered_per_s"]),
        ),
        chart(
            "Server CPU",
            "offered calls/s",
            "% of one core",
            _series(servers, lambda step: step["server_cpu_percent"]),
        ),
        chart(
            "Server resident set",
            "offered calls/s",
            "MiB",
            _series(servers, lambda step: step["server_rss_bytes"] / 2**20),
        ),
    ]
    capacities = "".join(
        f"<li>{html.escape(kind)}: {found['capacity']:g} calls/s"
        f"{' (or more: the last step held)' if found['held'] else ''}</li>"
        for kind, found in servers.items()
    )
    ratios = "".join(
        f"<li>{html.escape(name)}: capacity "
        f"{'n/a' if entry['capacity'] is None else entry['capacity']}</li>"
        for name, entry in report.get("ratios", {}).items()
    )
    machine = report["machine"]
    title = f"lgserver load test: {scenario['name']}"
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>{html.escape(title)}</title>"
        "<style>body{font-family:sans-serif;margin:2em;max-width:1200px}"
        "table{border-collapse:collapse;font-size:12px}"
        "td,th{border:1px solid #ccc;padding:2px 6px;text-align:right}"
        "svg{margin:8px}</style></head><body>"
        f"<h1>{html.escape(title)}</h1>"
        f"<p>{html.escape(scenario['description'])}. "
        f"Steps of {scenario['duration']:g} s, p99 target "
        f"{scenario['p99_target_ms']:g} ms; {report['generators']} generator "
        f"processes; Python {html.escape(machine['python'])}, "
        f"{machine['cpus']} CPUs.</p>"
        f"<h2>Capacity</h2><ul>{capacities}{ratios}</ul>"
        f"<div>{''.join(charts)}</div><h2>Steps</h2>{_table(servers)}"
        "</body></html>\n"
    )


def main(argv: Sequence[str]) -> int:
    """Render ``REPORT.json`` into ``PAGE.html``."""
    if len(argv) != 2:
        print("usage: python -m bench.loadtest.report REPORT.json PAGE.html")
        return 2
    report = json.loads(Path(argv[0]).read_text(encoding="utf-8"))
    Path(argv[1]).write_text(render_html(report), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
