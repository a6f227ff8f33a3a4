"""Run the load test::

    python -m bench.loadtest --scenario chat-day [--json FILE] [--html FILE]

lgserver and the baselines, bare (:mod:`bench.loadtest.baseline_bare`)
and python-socketio (:mod:`bench.loadtest.baseline_socketio`), each go
through the scenario's capacity search (:mod:`bench.loadtest.runner`)
in the same run, one after the other, on the same machine, driven by the
same generators. A line a step shows the progress; the last line sums up
lgserver's capacity, its latency there, its losses and its ratios to the
baselines. ``--servers`` picks which run (lgserver always does).
``--json FILE`` writes every figure, ``--html FILE`` a page of plots
(:mod:`bench.loadtest.report`), ``--docs PAGE`` the figures into their
section of ``docs/performance.md`` (:mod:`bench.loadtest.docs`). The exit
status is 0 once the run is measured, whatever the figures; 2 for a bad
scenario or command line, 1 if a server or generator failed.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import os
import platform
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from bench._server import write_certificate

from .docs import update_page
from .report import render_html
from .runner import StepFailed, Target, capacity_search, generator_count
from .scenario import ScenarioError, load_scenario
from .servers import prepare_store, start_bare, start_lgserver, start_socketio

KINDS = ("lgserver", "bare", "socketio")


def measure(
    scenario_name: str, generators: int | None, kinds: Sequence[str]
) -> dict[str, Any]:
    """Run the capacity search of every server kind; the whole report.

    Raises:
        ScenarioError: The scenario cannot be used.
        StepFailed: A generator failed.
        RuntimeError: A server did not start.
    """
    scenario = load_scenario(scenario_name)
    count = generator_count(scenario, generators)
    began = time.time()
    servers: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="lg-loadtest-") as directory:
        root = Path(directory)
        cert_file, key_file = write_certificate(root)
        for kind in kinds:
            print(f"{kind}: {scenario.name}, {count} generators", flush=True)
            if kind == "lgserver":
                data_dir = root / "data"
                data_dir.mkdir()
                asyncio.run(
                    prepare_store(
                        data_dir,
                        count,
                        scenario.operators,
                        scenario.max_chats,
                        scenario.routing,
                    )
                )
                server = start_lgserver(
                    data_dir, cert_file, key_file, root / "lgserver.log"
                )
            elif kind == "bare":
                server = start_bare(cert_file, key_file, root / "bare.log")
            else:
                server = start_socketio(cert_file, key_file, root / "socketio.log")
            try:
                target = Target(kind, server, str(cert_file))
                servers[kind] = capacity_search(
                    target,
                    scenario,
                    count,
                    lambda line: print(line, flush=True),
                )
            finally:
                server.close()
    report: dict[str, Any] = {
        "scenario": dataclasses.asdict(scenario),
        "generators": count,
        "machine": {
            "python": platform.python_version(),
            "cpus": os.cpu_count(),
            "platform": platform.platform(),
        },
        "started": began,
        "seconds": round(time.time() - began, 1),
        "servers": servers,
    }
    report["ratios"] = ratios(servers)
    return report


def ratios(servers: dict[str, Any]) -> dict[str, Any]:
    """lgserver over each baseline: capacity, and at each rate both
    offered, delivered messages a second and p99 latency."""
    found: dict[str, Any] = {}
    ours = servers.get("lgserver")
    if ours is None:
        return found
    for kind, theirs in servers.items():
        if kind == "lgserver":
            continue
        entry: dict[str, Any] = {
            "capacity": _ratio(ours["capacity"], theirs["capacity"]),
            "delivered": _ratio(
                ours["delivered_at_capacity"], theirs["delivered_at_capacity"]
            ),
            "ours_at_least": ours["held"],
            "theirs_at_least": theirs["held"],
            "steps": [],
        }
        by_rate = {step["rate"]: step for step in theirs["steps"]}
        for step in ours["steps"]:
            other = by_rate.get(step["rate"])
            if other is None:
                continue
            entry["steps"].append(
                {
                    "rate": step["rate"],
                    "delivered": _ratio(
                        step["delivered_per_s"], other["delivered_per_s"]
                    ),
                    "p99": _ratio(
                        step["latency_ms"]["p99"], other["latency_ms"]["p99"]
                    ),
                    "cpu": _ratio(
                        step["server_cpu_percent"], other["server_cpu_percent"]
                    ),
                }
            )
        found[f"lgserver/{kind}"] = entry
    return found


def _ratio(ours: float, theirs: float) -> float | None:
    return round(ours / theirs, 3) if theirs else None


def summary_line(report: dict[str, Any]) -> str:
    """The last line: lgserver's capacity, latency there, losses, ratio."""
    ours = report["servers"]["lgserver"]
    steps = ours["steps"]
    held = [step for step in steps if step["held"]]
    shown = held[-1] if held else steps[0]
    lost = sum(step["lost"] for step in steps)
    duplicated = sum(step["duplicated"] for step in steps)
    line = (
        f"capacity {ours['capacity']:g} calls/s"
        f"{'+' if ours['held'] else ''} ({report['scenario']['name']}); "
        f"at {shown['rate']:g} calls/s: p50 {shown['latency_ms']['p50']:g} ms, "
        f"p99 {shown['latency_ms']['p99']:g} ms, "
        f"{shown['delivered_per_s']:g} msg/s; lost {lost}, duplicated {duplicated}"
    )
    for name, entry in report["ratios"].items():
        # the targets are in messages delivered a second at capacity
        delivered, capacity = entry["delivered"], entry["capacity"]
        line += (
            f"; {name} messages/s {'n/a' if delivered is None else f'{delivered:g}'}"
            f" (calls/s {'n/a' if capacity is None else f'{capacity:g}'})"
        )
    return line


def main(argv: Sequence[str] | None = None) -> int:
    """Parse the command line, run the load test, return the exit status."""
    parser = argparse.ArgumentParser(
        prog="python -m bench.loadtest",
        description="Capacity of lgserver against a bare baseline, same run.",
    )
    parser.add_argument("--scenario", default="smoke", help="name or TOML path")
    parser.add_argument("--json", type=Path, help="write every figure here")
    parser.add_argument("--html", type=Path, help="write a report page here")
    parser.add_argument("--generators", type=int, help="generator processes")
    parser.add_argument(
        "--docs", type=Path, help="put the figures into this page (performance.md)"
    )
    parser.add_argument(
        "--servers",
        default=",".join(KINDS),
        help=f"which servers, comma-separated (of {', '.join(KINDS)})",
    )
    args = parser.parse_args(argv)
    kinds = [kind.strip() for kind in args.servers.split(",") if kind.strip()]
    if "lgserver" not in kinds or any(kind not in KINDS for kind in kinds):
        parser.error(f"--servers: lgserver and any of {', '.join(KINDS[1:])}")
    if args.generators is not None and args.generators < 1:
        parser.error("--generators: at least 1")
    try:
        report = measure(args.scenario, args.generators, kinds)
    except ScenarioError as exc:
        print(f"bench.loadtest: {exc}", file=sys.stderr)
        return 2
    except (StepFailed, RuntimeError, OSError) as exc:
        print(f"bench.loadtest: {exc}", file=sys.stderr)
        return 1
    if args.json is not None:
        args.json.write_text(json.dumps(report, indent=1) + "\n", encoding="utf-8")
    if args.html is not None:
        args.html.write_text(render_html(report), encoding="utf-8")
    if args.docs is not None:
        shown = ["python -m bench.loadtest", f"--scenario {args.scenario}"]
        if args.servers != ",".join(KINDS):
            shown.append(f"--servers {args.servers}")
        update_page(args.docs, report, " ".join(shown))
    print(summary_line(report), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
