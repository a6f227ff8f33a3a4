"""The load test's figures as Markdown, written into ``docs/performance.md``.

``python -m bench.loadtest --scenario NAME --docs docs/performance.md``
replaces the part of the page between the two marks of that scenario::

    <!-- bench.loadtest NAME: generated -->
    ...
    <!-- end bench.loadtest NAME -->

with a section made from the run's report: what was run, a table of each
server's capacity and the figures at its capacity, lgserver's ratios to
the baselines against the targets, and what the connection drops did. A
page without the marks of that scenario gets them at its end. Nothing
else on the page changes.
"""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path
from typing import Any

__all__ = ["TARGETS", "render_section", "update_page"]

#: The least ratio of lgserver's messages a second at capacity to each
#: baseline's.
TARGETS = {"bare": 0.5, "socketio": 3.0}
NAMES = {
    "lgserver": "lgserver",
    "bare": "bare uvloop fan-out",
    "socketio": "python-socketio",
}


def _begin(scenario: str) -> str:
    return f"<!-- bench.loadtest {scenario}: generated -->"


def _end(scenario: str) -> str:
    return f"<!-- end bench.loadtest {scenario} -->"


def _at_capacity(server: dict[str, Any]) -> dict[str, Any] | None:
    held = [step for step in server["steps"] if step["held"]]
    return held[-1] if held else None


def _mib(value: float) -> str:
    return f"{value / 2**20:,.0f}"


def _verdict(ratio: float | None, target: float | None, entry: dict[str, Any]) -> str:
    # a server that held at the last step offered has a capacity of at
    # least that step's: a ratio is then a bound, good for one verdict only
    if ratio is None or target is None:
        return "n/a"
    if ratio >= target:
        if entry["theirs_at_least"]:
            return "unknown (the baseline held at every step: a lower bound)"
        return "met"
    if entry.get("ours_at_least"):
        return "unknown (lgserver held at every step: a lower bound)"
    return "not met"


def render_section(report: dict[str, Any], command: str) -> str:
    """The Markdown of one run, marks included."""
    scenario = report["scenario"]
    name = scenario["name"]
    when = dt.datetime.fromtimestamp(report["started"], dt.UTC)
    machine = report["machine"]
    lines = [
        _begin(name),
        "",
        f"Scenario `{name}`: {scenario['description']}. Command: `{command}`, "
        f"run {when:%Y-%m-%d %H:%M} UTC in {report['seconds']:g} s on "
        f"{machine['cpus']} cores, Python {machine['python']}, "
        f"{report['generators']} generator process(es). The p99 target of "
        f"a step is {scenario['p99_target_ms']:g} ms.",
        "",
        "| server | capacity, calls/s | messages/s there | p50 ms | p99 ms "
        "| server CPU | server RSS MiB | lost | duplicated |",
        "|---|--:|--:|--:|--:|--:|--:|--:|--:|",
    ]
    for kind, server in report["servers"].items():
        step = _at_capacity(server)
        lost = sum(s["lost"] for s in server["steps"])
        duplicated = sum(s["duplicated"] for s in server["steps"])
        more = "+" if server["held"] else ""
        if step is None:
            lines.append(
                f"| {NAMES.get(kind, kind)} | 0 | n/a | n/a | n/a | n/a | n/a "
                f"| {lost} | {duplicated} |"
            )
            continue
        latency = step["latency_ms"]
        lines.append(
            f"| {NAMES.get(kind, kind)} | {server['capacity']:g}{more} "
            f"| {step['delivered_per_s']:,.0f} | {latency['p50']:g} "
            f"| {latency['p99']:g} | {step['server_cpu_percent']:g}% "
            f"| {_mib(step['server_rss_bytes'])} | {lost} | {duplicated} |"
        )
    lines += [
        "",
        "A `+` marks a server that still held at the last step offered: its "
        "capacity is at least that.",
    ]
    ratios = report.get("ratios", {})
    if ratios:
        lines += [
            "",
            "| lgserver against | messages/s at capacity | target | result |",
            "|---|--:|--:|---|",
        ]
        for key, entry in ratios.items():
            kind = key.split("/", 1)[1]
            ratio = entry["delivered"]
            target = TARGETS.get(kind)
            shown = "n/a" if ratio is None else f"{ratio:.2f}"
            result = _verdict(ratio, target, entry)
            wanted = "n/a" if target is None else f"at least {target:g}"
            lines.append(f"| {NAMES.get(kind, kind)} | {shown} | {wanted} | {result} |")
    ours = report["servers"].get("lgserver")
    if ours is not None:
        drops = sum(step["drops"] for step in ours["steps"])
        reconnects = sum(step["reconnects"] for step in ours["steps"])
        received = sum(step["received"] for step in ours["steps"])
        lost = sum(step["lost"] for step in ours["steps"])
        duplicated = sum(step["duplicated"] for step in ours["steps"])
        lines += [
            "",
            f"lgserver over all its steps: {received:,} messages received, "
            f"{lost} lost, {duplicated} duplicated; {drops:,} connections cut "
            f"by the generators, {reconnects:,} reconnections by the clients.",
        ]
    lines += ["", _end(name)]
    return "\n".join(lines)


def update_page(page: Path, report: dict[str, Any], command: str) -> None:
    """Put the run's section into ``page`` in place of the earlier one."""
    name = report["scenario"]["name"]
    text = page.read_text(encoding="utf-8")
    section = render_section(report, command)
    pattern = re.compile(
        re.escape(_begin(name)) + r".*?" + re.escape(_end(name)), re.DOTALL
    )
    if pattern.search(text):
        text = pattern.sub(lambda _: section, text, count=1)
    else:
        text = text.rstrip("\n") + "\n\n" + section + "\n"
    page.write_text(text, encoding="utf-8")
