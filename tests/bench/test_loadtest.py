"""The load test: its scenarios, its tallies, and the smoke scenario run
for real against the lgserver daemon and the bare baseline."""

from __future__ import annotations

import asyncio
import json
import ssl
import struct
from pathlib import Path
from typing import Any

import pytest
from bench._server import write_certificate
from bench.loadtest import baseline_bare as bare
from bench.loadtest import runner
from bench.loadtest.__main__ import main, measure, summary_line
from bench.loadtest.docs import render_section, update_page
from bench.loadtest.generator import Tally
from bench.loadtest.links import BareLink, CallFailed, LinkClosed, SocketIOLink
from bench.loadtest.report import chart, render_html
from bench.loadtest.runner import holds
from bench.loadtest.scenario import (
    SCENARIOS,
    ScenarioError,
    load_scenario,
    parse_scenario,
)
from bench.loadtest.servers import ServerChild, start_bare, start_socketio

GOOD: dict[str, Any] = {
    "duration": 5.0,
    "customers": {"arrival_rate": 2.0},
}


# -- scenarios


def test_every_shipped_scenario_loads() -> None:
    names = sorted(path.stem for path in SCENARIOS.glob("*.toml"))
    assert {"smoke", "chat-day", "burst", "churn"} <= set(names)
    for name in names:
        scenario = load_scenario(name)
        assert scenario.name == name
        assert abs(sum(scenario.transports.values()) - 1.0) < 1e-9
    churn = load_scenario("churn")
    assert churn.drop_rate == 0.01
    assert load_scenario("chat-day").p99_target_ms == 50.0


def test_defaults_and_step_rates() -> None:
    scenario = parse_scenario("x", GOOD | {"search": {"step": 3.0, "max_steps": 3}})
    assert scenario.transports == {"lg/1": 1.0}
    assert scenario.p99_target_ms == 50.0
    assert scenario.step_rates() == [2.0, 5.0, 8.0]
    assert scenario.with_rate(7.0).arrival_rate == 7.0


@pytest.mark.parametrize(
    ("document", "named"),
    [
        ({"customers": {"arrival_rate": 1.0}}, "duration: missing"),
        (GOOD | {"duration": "long"}, "duration: must be a number"),
        (GOOD | {"customers": {"arrival_rate": 0}}, "customers.arrival_rate:"),
        (GOOD | {"customers": {"arrival_rate": 1, "speed": 2}}, "customers.speed:"),
        (
            GOOD | {"customers": {"arrival_rate": 1, "messages": 1.5}},
            "customers.messages: must be an integer",
        ),
        (
            GOOD | {"customers": {"arrival_rate": 1, "message_size": 10}},
            "customers.message_size:",
        ),
        (GOOD | {"operators": {"count": 0}}, "operators.count:"),
        (GOOD | {"operators": {"max_chats": True}}, "operators.max_chats:"),
        (GOOD | {"operators": {"routing": "random"}}, "operators.routing: one of"),
        (GOOD | {"transports": {"quic": 1.0}}, "transports.quic: unknown"),
        (GOOD | {"transports": {"lg/1": 0.5}}, "transports: the fractions"),
        (GOOD | {"churn": {"drop_rate": 2.0}}, "churn.drop_rate: must be at most"),
        (GOOD | {"search": {"p99_target_ms": -1}}, "search.p99_target_ms:"),
        (GOOD | {"search": []}, "search: must be a table"),
        (GOOD | {"extra": 1}, "extra: unknown key"),
    ],
)
def test_a_bad_scenario_names_its_key(document: dict[str, Any], named: str) -> None:
    with pytest.raises(ScenarioError) as raised:
        parse_scenario("x", document)
    assert named in str(raised.value)


def test_a_bad_scenario_file(tmp_path: Path) -> None:
    broken = tmp_path / "broken.toml"
    broken.write_text("duration = [")
    with pytest.raises(ScenarioError, match=r"broken\.toml: not valid TOML"):
        load_scenario(str(broken))
    with pytest.raises(ScenarioError, match=r"no such scenario.*smoke"):
        load_scenario("no-such-scenario")
    assert main(["--scenario", "no-such-scenario"]) == 2


# -- tallies


def test_tallies_merge() -> None:
    first, second = Tally(), Tally()
    for value in (1000, 2000, 3000):
        first.latency.record_value(value)
    second.latency.record_value(40_000)
    first.received, second.received = 3, 1
    second.errors["500"] += 2
    merged = Tally()
    merged.add(first.to_dict())
    merged.add(second.to_dict())
    assert merged.received == 4
    assert merged.errors == {"500": 2}
    assert merged.latency.get_total_count() == 4
    assert merged.latency.get_max_value() >= 39_000


def test_a_step_holds_only_within_target_and_without_loss() -> None:
    step: dict[str, Any] = {
        "received": 10,
        "latency_ms": {"p99": 20.0},
        "lost": 0,
        "duplicated": 0,
        "unanswered": 0,
        "errors": {},
    }
    assert holds(step, 50.0)
    assert not holds(step | {"latency_ms": {"p99": 51.0}}, 50.0)
    assert not holds(step | {"lost": 1}, 50.0)
    assert not holds(step | {"duplicated": 1}, 50.0)
    assert not holds(step | {"unanswered": 1}, 50.0)
    assert not holds(step | {"errors": {"500": 1}}, 50.0)
    assert not holds(step | {"received": 0}, 50.0)


def _fake_step(p99_at: dict[float, list[float]], lost_at: float) -> Any:
    """run_step's stand-in: each try at a rate takes the next p99 listed."""

    def run(
        target: Any, scenario: Any, rate: float, generators: int, step: int
    ) -> dict[str, Any]:
        return {
            "rate": rate,
            "received": 100,
            "delivered_per_s": rate * 10,
            "latency_ms": {"p50": 1.0, "p99": p99_at[rate].pop(0)},
            "lost": 1 if rate >= lost_at else 0,
            "duplicated": 0,
            "unanswered": 0,
            "errors": {},
            "server_cpu_percent": 50.0,
            "server_rss_bytes": 1 << 20,
            "generator_cpu_percent": 50.0,
        }

    return run


@pytest.mark.parametrize(
    ("p99_at", "lost_at", "capacity", "rates"),
    [
        # 60 too slow twice, 50 holds: the capacity is between the steps
        (
            {20.0: [9], 40.0: [9], 60.0: [80, 70], 50.0: [30]},
            1e9,
            50.0,
            [20, 40, 60, 60, 50],
        ),
        # 50 too slow as well: the capacity stays at the last step
        (
            {20.0: [9], 40.0: [9], 60.0: [80, 70], 50.0: [60, 55]},
            1e9,
            40.0,
            [20, 40, 60, 60, 50, 50],
        ),
        # a loss gets no second try, halfway neither
        ({20.0: [9], 40.0: [9], 60.0: [9], 50.0: [9]}, 60.0, 50.0, [20, 40, 60, 50]),
        # a slow second try holds: on to the next step
        (
            {20.0: [9], 40.0: [60, 30], 60.0: [9], 80.0: [9]},
            1e9,
            80.0,
            [20, 40, 40, 60, 80],
        ),
        # the first step fails: nothing held, nothing between
        ({20.0: [80, 90]}, 1e9, 0.0, [20, 20]),
    ],
)
def test_the_search_ends_halfway_between_the_last_steps(
    monkeypatch: pytest.MonkeyPatch,
    p99_at: dict[float, list[float]],
    lost_at: float,
    capacity: float,
    rates: list[float],
) -> None:
    monkeypatch.setattr(runner, "run_step", _fake_step(p99_at, lost_at))
    scenario = parse_scenario(
        "x", GOOD | {"search": {"start": 20.0, "step": 20.0, "max_steps": 4}}
    )
    lines: list[str] = []
    target = runner.Target("lgserver", None, "")  # type: ignore[arg-type]
    found = runner.capacity_search(target, scenario, 1, lines.append)
    assert [step["rate"] for step in found["steps"]] == rates
    assert found["capacity"] == capacity
    assert found["delivered_at_capacity"] == capacity * 10
    assert len(lines) == len(rates)
    assert found["held"] is (capacity == 80.0)
    halfway = [step for step in found["steps"] if step.get("halfway")]
    assert len(halfway) <= 1


# -- the bare baseline


@pytest.fixture
def bare_server(tmp_path: Path) -> Any:
    cert_file, key_file = write_certificate(tmp_path)
    server = start_bare(cert_file, key_file, tmp_path / "bare.log")
    yield server, ssl.create_default_context(cafile=str(cert_file))
    server.close()


async def test_the_bare_baseline_pairs_and_relays(
    bare_server: tuple[ServerChild, ssl.SSLContext],
) -> None:
    server, context = bare_server
    operator = BareLink(server.port, context, queue=7, max_chats=1)
    customer = BareLink(server.port, context, queue=7)
    other = BareLink(server.port, context, queue=8)
    for link in (operator, customer, other):
        await link.connect()
    await operator.call("operator.status", {"status": "available"})
    placed = await customer.call("chat.place", {"department": "load-7"})
    await other.call("chat.place", {"department": "load-8"})
    chat = placed["chat"]
    assert await operator.receive() == ("queue.offer", {"call": {"chat": chat}})
    await operator.call("chat.accept", {"chat": chat})
    assert await customer.receive() == ("chat.accepted", {"chat": chat})

    await customer.call("chat.send", {"chat": chat, "id": "1", "text": "héllo"})
    name, data = await operator.receive()
    assert name == "chat.message"
    assert data["message"] == {"from": "customer", "text": "héllo"}
    await operator.call("chat.send", {"chat": chat, "id": "2", "text": "hi"})
    name, data = await customer.receive()
    assert data["message"] == {"from": "operator", "text": "hi"}

    # the other queue's call was never offered here; a stranger's accept fails
    with pytest.raises(CallFailed) as failed:
        await other.call("chat.accept", {"chat": chat})
    assert failed.value.code == bare.NOT_OFFERED

    await customer.call("chat.leave", {"chat": chat})
    assert await operator.receive() == ("chat.ended", {"chat": chat})
    with pytest.raises(CallFailed) as failed:
        await operator.call("chat.send", {"chat": chat, "id": "3", "text": "?"})
    assert failed.value.code == bare.CHAT_ENDED
    for link in (operator, customer, other):
        await link.close()


async def test_the_bare_baseline_closes_a_malformed_frame_only(
    bare_server: tuple[ServerChild, ssl.SSLContext],
) -> None:
    server, context = bare_server
    reader, writer = await asyncio.open_connection(
        "127.0.0.1", server.port, ssl=context, server_hostname="localhost"
    )
    # a chat's request before saying which queue: the connection ends
    body = struct.pack("!BII", bare.SEND, 1, 1)
    writer.write(len(body).to_bytes(4) + body)
    assert await asyncio.wait_for(reader.read(), 5) == b""
    writer.close()

    # others are still served
    link = BareLink(server.port, context, queue=1)
    await link.connect()
    assert (await link.call("chat.place", {}))["chat"] == "1"
    link.drop()
    with pytest.raises(LinkClosed):
        await link.receive()


# -- the python-socketio baseline


async def test_the_socketio_baseline_pairs_and_relays(tmp_path: Path) -> None:
    cert_file, key_file = write_certificate(tmp_path)
    server = start_socketio(cert_file, key_file, tmp_path / "socketio.log")
    context = ssl.create_default_context(cafile=str(cert_file))
    try:
        operator = SocketIOLink(server.port, context, queue=3, max_chats=2)
        customer = SocketIOLink(server.port, context, queue=3)
        await operator.connect()
        await customer.connect()
        await operator.call("operator.status", {"status": "available"})
        chat = (await customer.call("chat.place", {}))["chat"]
        assert await operator.receive() == ("queue.offer", {"call": {"chat": chat}})
        await operator.call("chat.accept", {"chat": chat})
        assert await customer.receive() == ("chat.accepted", {"chat": chat})
        await operator.call("chat.send", {"chat": chat, "id": "1", "text": "hé"})
        name, data = await customer.receive()
        assert (name, data["message"]) == (
            "chat.message",
            {"from": "operator", "text": "hé"},
        )
        await customer.call("chat.leave", {"chat": chat})
        assert await operator.receive() == ("chat.ended", {"chat": chat})
        with pytest.raises(CallFailed) as failed:
            await operator.call("chat.send", {"chat": chat, "id": "2", "text": "?"})
        assert failed.value.code == 1007
        await operator.close()
        await customer.close()
    finally:
        server.close()


# -- the report page


def test_a_chart_is_inline_svg_with_escaped_names() -> None:
    drawn = chart("Latency <ms>", "calls/s", "ms", {"a&b": [(1, 2.0), (2, 8.0)]})
    assert drawn.startswith("<svg") and drawn.endswith("</svg>")
    assert "Latency &lt;ms&gt;" in drawn and "a&amp;b" in drawn
    assert drawn.count("<circle") == 2 and "<polyline" in drawn


# -- the smoke scenario, for real


@pytest.mark.timeout(60)
def test_the_smoke_scenario_against_lgserver_and_bare(tmp_path: Path) -> None:
    report = measure("smoke", 1, ["lgserver", "bare", "socketio"])
    ours = report["servers"]["lgserver"]
    assert ours["steps"]
    for step in ours["steps"]:
        assert step["received"] > 0
        assert step["received"] == step["acked"]
        assert step["lost"] == 0
        assert step["duplicated"] == 0
        assert step["unanswered"] == 0
        assert step["errors"] == {}
        # every cut connection resumed (or was cut again while resuming)
        assert step["reconnects"] <= step["drops"]
        latency = step["latency_ms"]
        assert latency["count"] == step["received"]
        assert 0 < latency["p50"] <= latency["p99"] <= latency["max"]
        assert step["server_cpu_percent"] > 0
        assert step["server_rss_bytes"] > 0
    assert ours["capacity"] > 0

    theirs = report["servers"]["bare"]
    assert theirs["steps"]
    assert all(step["received"] > 0 for step in theirs["steps"])
    assert all(step["lost"] == 0 for step in theirs["steps"])
    assert report["ratios"]["lgserver/bare"]["steps"]
    sio = report["servers"]["socketio"]
    assert all(step["received"] > 0 for step in sio["steps"])
    assert all(step["lost"] == 0 for step in sio["steps"])

    page = render_html(report)
    assert page.count("<svg") == 4
    assert "<script" not in page and "src=" not in page

    line = summary_line(report)
    assert line.startswith("capacity ") and "lost 0, duplicated 0" in line
    assert "; lgserver/bare messages/s " in line and " (calls/s " in line
    written = tmp_path / "report.json"
    written.write_text(json.dumps(report))
    assert json.loads(written.read_text())["scenario"]["name"] == "smoke"


# -- the figures in docs/performance.md


def _server(capacity: float, held: bool, delivered: float) -> dict[str, Any]:
    step = {
        "rate": capacity,
        "held": True,
        "delivered_per_s": delivered,
        "latency_ms": {"p50": 1.5, "p99": 20.25},
        "server_cpu_percent": 50.0,
        "server_rss_bytes": 100 * 2**20,
        "lost": 0,
        "duplicated": 0,
        "drops": 3,
        "reconnects": 3,
        "received": 1000,
    }
    return {
        "capacity": capacity,
        "delivered_at_capacity": delivered,
        "steps": [step],
        "held": held,
    }


def _report(started: float) -> dict[str, Any]:
    return {
        "scenario": {
            "name": "chat-day",
            "description": "steady arrivals",
            "p99_target_ms": 50.0,
        },
        "generators": 1,
        "machine": {"python": "3.11.7", "cpus": 2},
        "started": started,
        "seconds": 300.0,
        "servers": {
            "lgserver": _server(60.0, False, 900.0),
            "bare": _server(160.0, True, 2400.0),
            "socketio": _server(20.0, False, 300.0),
        },
        "ratios": {
            "lgserver/bare": {"delivered": 0.375, "theirs_at_least": True},
            "lgserver/socketio": {"delivered": 3.0, "theirs_at_least": False},
        },
    }


def test_the_figures_replace_their_own_section_only(tmp_path: Path) -> None:
    page = tmp_path / "performance.md"
    page.write_text("# Performance\n\nWritten by hand.\n", encoding="utf-8")
    update_page(page, _report(0.0), "python -m bench.loadtest --scenario chat-day")
    first = page.read_text(encoding="utf-8")
    assert first.startswith("# Performance\n\nWritten by hand.\n\n")
    assert "| lgserver | 60 | 900 | 1.5 | 20.25 | 50% | 100 | 0 | 0 |" in first
    assert "| bare uvloop fan-out | 160+ | 2,400 |" in first
    assert "| python-socketio | 3.00 | at least 3 | met |" in first
    assert "| bare uvloop fan-out | 0.38 | at least 0.5 | not met |" in first
    assert "3 connections cut by the generators" in first
    assert "1970-01-01 00:00 UTC" in first

    page.write_text(first + "\nMore by hand.\n", encoding="utf-8")
    update_page(page, _report(86400.0), "python -m bench.loadtest")
    second = page.read_text(encoding="utf-8")
    assert second.count("<!-- bench.loadtest chat-day: generated -->") == 1
    assert "1970-01-02 00:00 UTC" in second and "1970-01-01" not in second
    assert second.endswith("\nMore by hand.\n")


@pytest.mark.parametrize(
    ("ratio", "ours_at_least", "theirs_at_least", "verdict"),
    [
        (0.6, False, False, "| 0.60 | at least 0.5 | met |"),
        (0.4, False, False, "| 0.40 | at least 0.5 | not met |"),
        # the baseline held to the end: its rate may be higher, ours lower
        (0.6, False, True, "| 0.60 | at least 0.5 | unknown (the baseline held"),
        (0.4, False, True, "| 0.40 | at least 0.5 | not met |"),
        # lgserver held to the end: its rate may be higher
        (0.4, True, False, "| 0.40 | at least 0.5 | unknown (lgserver held"),
        (0.6, True, False, "| 0.60 | at least 0.5 | met |"),
    ],
)
def test_a_ratio_between_bounds_gets_no_verdict_it_cannot_prove(
    ratio: float, ours_at_least: bool, theirs_at_least: bool, verdict: str
) -> None:
    report = _report(0.0)
    report["ratios"]["lgserver/bare"] = {
        "delivered": ratio,
        "ours_at_least": ours_at_least,
        "theirs_at_least": theirs_at_least,
    }
    section = render_section(report, "python -m bench.loadtest")
    assert f"| bare uvloop fan-out {verdict}" in section
