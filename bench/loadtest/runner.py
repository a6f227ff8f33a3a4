"""Steps and the capacity search: the parent's side of the load test.

A *step* offers one arrival rate to one server: the generator processes
log their operators in, say they are ready, and all start together when
the parent says go. While they run the parent reads the server's CPU time
and resident set from ``/proc``; then it merges what they counted.

The *capacity search* offers the scenario's start rate, then more by its
step, until a step does not *hold*: its p99 latency passes the target, a
message is lost or duplicated, a call goes unanswered or an error comes.
The capacity is the rate of the last step that held (0 if none did).
"""

from __future__ import annotations

import multiprocessing
import os
import queue
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from hdrh.histogram import HdrHistogram

from .generator import Plan, Tally, run_process
from .scenario import Scenario
from .servers import ServerChild, operator_names

__all__ = ["StepFailed", "capacity_search", "generator_count", "run_step"]

#: Seconds the generators get to log their operators in.
READY_TIMEOUT = 300.0
PERCENTILES = (50.0, 90.0, 99.0, 99.9)


class StepFailed(Exception):
    """A generator process failed; the message holds its traceback."""


def generator_count(scenario: Scenario, wanted: int | None = None) -> int:
    """One generator a core but one, no more than there are operators."""
    count = wanted or max(1, (os.cpu_count() or 2) - 1)
    return max(1, min(count, scenario.operators))


@dataclass(frozen=True, slots=True)
class Target:
    """A server under load."""

    kind: str
    server: ServerChild
    cert_file: str


def _ms(value: int) -> float:
    return round(value / 1000.0, 3)


def summarize(
    tally: Tally, rate: float, seconds: float, cpu: float, rss: int
) -> dict[str, Any]:
    """One step's figures, as the JSON report holds them."""
    latency: HdrHistogram = tally.latency
    wait: HdrHistogram = tally.answer_wait
    figures: dict[str, Any] = {"rate": rate, "seconds": round(seconds, 3)}
    figures |= {name: getattr(tally, name) for name in Tally.COUNTS}
    figures["errors"] = dict(tally.errors)
    figures["close_codes"] = dict(tally.close_codes)
    figures["delivered_per_s"] = round(tally.received / seconds, 1)
    figures["latency_ms"] = {
        f"p{p:g}": _ms(latency.get_value_at_percentile(p)) for p in PERCENTILES
    } | {"max": _ms(latency.get_max_value()), "count": latency.get_total_count()}
    figures["answer_wait_ms"] = {
        f"p{p:g}": _ms(wait.get_value_at_percentile(p)) for p in (50.0, 99.0)
    }
    figures["server_cpu_percent"] = round(cpu / seconds * 100, 1)
    figures["server_rss_bytes"] = rss
    # near 100% the generators, not the server, set the pace
    figures["generator_cpu_percent"] = round(
        tally.generator_cpu_ms / max(1, tally.generator_wall_ms) * 100, 1
    )
    return figures


def holds(figures: dict[str, Any], target_ms: float) -> bool:
    """Whether a step held: p99 within the target, nothing lost or
    duplicated, every call answered, no error."""
    return (
        figures["received"] > 0
        and figures["latency_ms"]["p99"] <= target_ms
        and figures["lost"] == 0
        and figures["duplicated"] == 0
        and figures["unanswered"] == 0
        and not figures["errors"]
    )


def run_step(
    target: Target, scenario: Scenario, rate: float, generators: int, step: int
) -> dict[str, Any]:
    """Offer ``rate`` calls a second to ``target``; the step's figures.

    Raises:
        StepFailed: A generator failed or did not get ready in time.
    """
    context = multiprocessing.get_context("spawn")
    results: Any = context.Queue()
    go = context.Event()
    plans = [
        Plan(
            kind=target.kind,
            port=target.server.port,
            cert_file=target.cert_file,
            scenario=scenario,
            rate=rate / generators,
            index=index,
            step=step,
            operators=operator_names(index, scenario.operators, generators),
            seed=step * 1000 + index,
        )
        for index in range(generators)
    ]
    processes = [
        context.Process(target=run_process, args=(plan, results, go), daemon=True)
        for plan in plans
    ]
    for process in processes:
        process.start()
    try:
        _collect(results, processes, "ready", READY_TIMEOUT)
        cpu_before = target.server.cpu_seconds()
        began = time.monotonic()
        go.set()
        rss = [target.server.rss()]
        budget = scenario.duration + 120 + scenario.messages * scenario.think_time * 2
        tallies = _collect(
            results,
            processes,
            "done",
            budget,
            lambda: rss.append(target.server.rss()),
        )
        seconds = time.monotonic() - began
        cpu = target.server.cpu_seconds() - cpu_before
    finally:
        for process in processes:
            process.join(5)
            if process.is_alive():
                process.kill()
                process.join()
    merged = Tally()
    for values in tallies:
        merged.add(values)
    return summarize(merged, rate, seconds, cpu, max(rss))


def _collect(
    results: Any,
    processes: list[Any],
    word: str,
    timeout: float,
    sample: Callable[[], None] | None = None,
) -> list[Any]:
    deadline = time.monotonic() + timeout
    got: list[Any] = []
    while len(got) < len(processes):
        if time.monotonic() > deadline:
            raise StepFailed(f"the generators were not {word} in {timeout:g} s")
        try:
            message = results.get(timeout=0.5)
        except queue.Empty:
            if sample is not None:
                sample()
            if not any(process.is_alive() for process in processes):
                raise StepFailed("the generators ended without a word") from None
            continue
        if message[0] == "failed":
            raise StepFailed(f"generator {message[1]} failed:\n{message[2]}")
        if message[0] != word:
            raise StepFailed(f"generator {message[1]} said {message[0]!r}")
        got.append(message[2] if len(message) > 2 else message[1])
    return got


def capacity_search(
    target: Target,
    scenario: Scenario,
    generators: int,
    progress: Callable[[str], None],
) -> dict[str, Any]:
    """Raise the load step by step until a step does not hold, then try
    the rate halfway between the last step that held and that one.

    A step whose latency alone was over the target is run once more,
    and the second try decides.

    Returns ``{"capacity", "delivered_at_capacity", "steps", "held"}``:
    the rate of the last step that held (0.0 if none), the messages a
    second delivered at that step, every step's figures in the order run
    (a try that was run again marked ``"retry": False`` and followed by
    the one that decided, marked True; the halfway step marked
    ``"halfway": True``), and whether the last step of the scale still
    held (then the capacity is at least that).
    """
    steps: list[dict[str, Any]] = []
    capacity = 0.0
    delivered = 0.0
    held = False

    def attempt(rate: float, step: int) -> dict[str, Any]:
        figures = run_step(target, scenario, rate, generators, step)
        figures["held"] = holds(figures, scenario.p99_target_ms)
        figures["retry"] = False
        progress(step_line(target.kind, step, figures))
        if not figures["held"] and only_slow(figures):
            # a shared machine has its moments: latency alone gets a
            # second try, a loss or an error never does
            steps.append(figures)
            figures = run_step(target, scenario, rate, generators, step)
            figures["held"] = holds(figures, scenario.p99_target_ms)
            figures["retry"] = True
            progress(step_line(target.kind, step, figures))
        steps.append(figures)
        return figures

    rates = scenario.step_rates()
    for step, rate in enumerate(rates):
        figures = attempt(rate, step)
        held = figures["held"]
        if not held:
            if step > 0:
                # the scale's steps are coarse: one more between the two
                halfway = attempt((rates[step - 1] + rate) / 2, step)
                halfway["halfway"] = True
                if halfway["held"]:
                    capacity = halfway["rate"]
                    delivered = halfway["delivered_per_s"]
            break
        capacity = rate
        delivered = figures["delivered_per_s"]
    return {
        "capacity": capacity,
        "delivered_at_capacity": delivered,
        "steps": steps,
        "held": held,
    }


def only_slow(figures: dict[str, Any]) -> bool:
    """Whether a step that did not hold lost nothing and met no error:
    only its latency was over the target."""
    return (
        figures["received"] > 0
        and figures["lost"] == 0
        and figures["duplicated"] == 0
        and figures["unanswered"] == 0
        and not figures["errors"]
    )


def step_line(kind: str, step: int, figures: dict[str, Any]) -> str:
    """One line of progress for a step."""
    latency = figures["latency_ms"]
    return (
        f"{kind:>8} step {step + 1}: {figures['rate']:g} calls/s, "
        f"{figures['delivered_per_s']:g} msg/s, p50 {latency['p50']:g} ms, "
        f"p99 {latency['p99']:g} ms, lost {figures['lost']}, "
        f"dup {figures['duplicated']}, unanswered {figures['unanswered']}, "
        f"errors {sum(figures['errors'].values())}, "
        f"cpu {figures['server_cpu_percent']:g}%, "
        f"rss {figures['server_rss_bytes'] / 2**20:.0f} MiB, "
        f"generators {figures['generator_cpu_percent']:g}%"
        f" -> {'held' if figures['held'] else 'did not hold'}"
        f"{' (second try)' if figures.get('retry') else ''}"
    )
