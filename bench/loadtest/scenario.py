"""Load-test scenarios: TOML files in ``bench/scenarios/``.

A scenario says who comes and what they do::

    description = "..."
    duration = 20.0            # seconds customers keep arriving, a step

    [customers]
    arrival_rate = 20.0        # calls placed per second
    messages = 10              # messages each side of a chat sends
    think_time = 0.5           # seconds between two messages of one side
    message_size = 200         # bytes of a message's text

    [operators]
    count = 200
    max_chats = 5              # chats an operator holds at once
    routing = "assign"         # or "offer": every call to every operator

    [transports]               # fractions of the sessions, summing to 1
    "lg/1" = 0.67
    websocket = 0.33

    [churn]
    drop_rate = 0.001          # fraction of sessions cut each second

    [search]                   # capacity search
    start = 20.0               # arrival rate of the first step
    step = 20.0                # added at each step
    max_steps = 8
    p99_target_ms = 50.0

Every key has a default but ``duration`` and ``[customers]``'s
``arrival_rate``; an unknown key, a value of the wrong type or out of
range is a :class:`ScenarioError` that names the key.
"""

from __future__ import annotations

import math
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = [
    "SCENARIOS",
    "TRANSPORTS",
    "Scenario",
    "ScenarioError",
    "load_scenario",
    "parse_scenario",
]

SCENARIOS = Path(__file__).resolve().parent.parent / "scenarios"
TRANSPORTS = ("lg/1", "websocket")
# how a department gives out its calls (docs/chat.md)
ROUTINGS = ("assign", "offer")
# a message's text holds its id and send time as JSON: this much at least
MIN_MESSAGE_SIZE = 64
# the server's default chat.max_message_length
MAX_MESSAGE_SIZE = 4000


class ScenarioError(Exception):
    """A scenario that cannot be used; the message names the key."""


@dataclass(frozen=True, slots=True)
class Scenario:
    """One load-test scenario (see the module's documentation)."""

    name: str
    description: str
    duration: float
    arrival_rate: float
    messages: int
    think_time: float
    message_size: int
    operators: int
    max_chats: int
    routing: str
    transports: dict[str, float]
    drop_rate: float
    search_start: float
    search_step: float
    max_steps: int
    p99_target_ms: float

    def with_rate(self, rate: float) -> Scenario:
        """The same scenario at another arrival rate."""
        fields = {name: getattr(self, name) for name in self.__slots__}
        fields["arrival_rate"] = rate
        return Scenario(**fields)

    def step_rates(self) -> list[float]:
        """The arrival rates of the capacity search, in order."""
        return [
            self.search_start + index * self.search_step
            for index in range(self.max_steps)
        ]


class _Table:
    """Reads the keys of one table, remembering which were read."""

    def __init__(self, data: Any, where: str) -> None:
        if not isinstance(data, dict):
            raise ScenarioError(f"{where}: must be a table")
        self.data: dict[str, Any] = data
        self.where = where
        self.read: set[str] = set()

    def key(self, name: str) -> str:
        return f"{self.where}.{name}" if self.where else name

    def number(
        self,
        name: str,
        default: float | None,
        *,
        low: float = 0.0,
        positive: bool = False,
        high: float | None = None,
    ) -> float:
        value = self._get(name, default)
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ScenarioError(f"{self.key(name)}: must be a number, not {value!r}")
        value = float(value)
        if math.isnan(value) or value < low or (positive and value <= 0):
            limit = "positive" if positive else f"at least {low:g}"
            raise ScenarioError(f"{self.key(name)}: must be {limit}, not {value:g}")
        if high is not None and value > high:
            raise ScenarioError(
                f"{self.key(name)}: must be at most {high:g}, not {value:g}"
            )
        return value

    def integer(
        self, name: str, default: int | None, *, low: int, high: int | None = None
    ) -> int:
        value = self._get(name, default)
        if isinstance(value, bool) or not isinstance(value, int):
            raise ScenarioError(f"{self.key(name)}: must be an integer, not {value!r}")
        if value < low or (high is not None and value > high):
            bounds = f"from {low} to {high}" if high is not None else f">= {low}"
            raise ScenarioError(f"{self.key(name)}: must be {bounds}, not {value}")
        return value

    def text(self, name: str, default: str) -> str:
        value = self._get(name, default)
        if not isinstance(value, str):
            raise ScenarioError(f"{self.key(name)}: must be a string, not {value!r}")
        return value

    def table(self, name: str) -> _Table:
        self.read.add(name)
        return _Table(self.data.get(name, {}), self.key(name))

    def finish(self) -> None:
        unknown = sorted(set(self.data) - self.read)
        if unknown:
            raise ScenarioError(f"{self.key(unknown[0])}: unknown key")

    def _get(self, name: str, default: Any) -> Any:
        self.read.add(name)
        if name in self.data:
            return self.data[name]
        if default is None:
            raise ScenarioError(f"{self.key(name)}: missing")
        return default


def parse_scenario(name: str, document: dict[str, Any]) -> Scenario:
    """A scenario from a parsed TOML document.

    Raises:
        ScenarioError: A key is missing, unknown, of the wrong type or out
            of range.
    """
    top = _Table(document, "")
    description = top.text("description", "")
    duration = top.number("duration", None, positive=True, high=3600)

    customers = top.table("customers")
    rate = customers.number("arrival_rate", None, positive=True)
    messages = customers.integer("messages", 5, low=1, high=10_000)
    think_time = customers.number("think_time", 0.5, high=60)
    size = customers.integer(
        "message_size", 200, low=MIN_MESSAGE_SIZE, high=MAX_MESSAGE_SIZE
    )
    customers.finish()

    operators = top.table("operators")
    count = operators.integer("count", 10, low=1, high=100_000)
    max_chats = operators.integer("max_chats", 5, low=1, high=1000)
    routing = operators.text("routing", "assign")
    if routing not in ROUTINGS:
        raise ScenarioError(
            f"operators.routing: one of {', '.join(ROUTINGS)}, not {routing!r}"
        )
    operators.finish()

    mix = top.table("transports")
    transports: dict[str, float] = {}
    for transport in sorted(mix.data, key=str):
        if transport not in TRANSPORTS:
            raise ScenarioError(
                f"{mix.key(transport)}: unknown transport "
                f"(one of {', '.join(TRANSPORTS)})"
            )
        transports[transport] = mix.number(transport, None, high=1.0)
    if not transports:
        transports = {"lg/1": 1.0}
    if abs(sum(transports.values()) - 1.0) > 1e-6:
        raise ScenarioError(f"{mix.where}: the fractions must sum to 1")

    churn = top.table("churn")
    drop_rate = churn.number("drop_rate", 0.0, high=1.0)
    churn.finish()

    search = top.table("search")
    start = search.number("start", rate, positive=True)
    step = search.number("step", start, positive=True)
    max_steps = search.integer("max_steps", 5, low=1, high=1000)
    target = search.number("p99_target_ms", 50.0, positive=True)
    search.finish()
    top.finish()

    return Scenario(
        name=name,
        description=description,
        duration=duration,
        arrival_rate=rate,
        messages=messages,
        think_time=think_time,
        message_size=size,
        operators=count,
        max_chats=max_chats,
        routing=routing,
        transports=transports,
        drop_rate=drop_rate,
        search_start=start,
        search_step=step,
        max_steps=max_steps,
        p99_target_ms=target,
    )


def load_scenario(name_or_path: str) -> Scenario:
    """A scenario by name (a file of ``bench/scenarios/``) or by path.

    Raises:
        ScenarioError: No such scenario, not TOML, or a bad key.
    """
    path = Path(name_or_path)
    if path.suffix != ".toml":
        path = SCENARIOS / f"{name_or_path}.toml"
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        known = ", ".join(sorted(p.stem for p in SCENARIOS.glob("*.toml")))
        raise ScenarioError(
            f"{name_or_path}: no such scenario ({exc.strerror}); known: {known}"
        ) from None
    try:
        document = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ScenarioError(f"{path.name}: not valid TOML: {exc}") from None
    try:
        return parse_scenario(path.stem, document)
    except ScenarioError as exc:
        raise ScenarioError(f"{path.name}: {exc}") from None
