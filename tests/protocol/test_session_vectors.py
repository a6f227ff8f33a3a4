"""The client role against the scripted exchanges of ``sessions.json``,
which the JavaScript client is held to as well."""

from __future__ import annotations

import dataclasses
import json
import struct
from pathlib import Path
from typing import Any

import pytest

from lgserver.protocol.codec import Registry
from lgserver.protocol.errors import CloseCode
from lgserver.protocol.events import (
    ConnectionLost,
    MediaReceived,
    MessageReceived,
    SessionEnded,
    SessionEstablished,
    SessionEvent,
    SessionResumed,
)
from lgserver.protocol.frames import FrameDecoder, FrameKind, Opcode
from lgserver.protocol.session import ClientSession

DOCUMENT = json.loads(
    (Path(__file__).parent.parent / "vectors" / "sessions.json").read_text("utf-8")
)


def make_registry(traits: list[list[Any]]) -> Registry:
    registry = Registry()
    for alias, fields in traits:
        cls = dataclasses.make_dataclass(
            alias.replace(".", "_"),
            [(name, Any) for name in fields],
            frozen=True,
            slots=True,
        )
        registry.register(alias)(cls)
    return registry


REGISTRY = make_registry(DOCUMENT["traits"])


def from_json(value: Any) -> Any:
    if isinstance(value, dict) and "$object" in value:
        cls = REGISTRY.by_alias(value["$object"])
        assert cls is not None
        return cls.cls(**{name: from_json(v) for name, v in value["fields"]})
    return value


def code_of(name: str | int | None) -> int | None:
    if isinstance(name, str):
        return int(CloseCode[name])
    return name


def event_of(data: dict[str, Any]) -> SessionEvent | tuple[str, int | None, bool]:
    kind = data["type"]
    if kind == "SessionResumed":
        return SessionResumed(data["replayed"])
    if kind == "MessageReceived":
        return MessageReceived(from_json(data["value"]), data["channel"], data["seq"])
    if kind == "MediaReceived":
        return MediaReceived(
            data["track"],
            data["flags"],
            data["timestamp"],
            data["group"],
            bytes.fromhex(data["data"]),
        )
    if kind == "ConnectionLost":
        return ConnectionLost(code_of(data["code"]))
    if kind == "SessionEnded":
        return ("SessionEnded", code_of(data["code"]), data["remote"])
    assert kind == "SessionEstablished"
    return ("SessionEstablished", data["session_id"], False)


def comparable(event: SessionEvent) -> SessionEvent | tuple[str, Any, bool]:
    if isinstance(event, SessionEnded):
        return ("SessionEnded", int(event.code), event.remote)
    if isinstance(event, SessionEstablished):
        return ("SessionEstablished", event.session_id, False)
    return event


@pytest.mark.parametrize(
    "script", DOCUMENT["scripts"], ids=[s["name"] for s in DOCUMENT["scripts"]]
)
def test_client_follows_the_script(script: dict[str, Any]) -> None:
    client = ClientSession(REGISTRY, build="vectors")
    for step in script["steps"]:
        op = step["op"]
        if op == "connect":
            client.connection_made(step["at"])
        elif op == "receive":
            client.receive_data(bytes.fromhex(step["hex"]), step["at"])
        elif op == "lost":
            client.connection_lost(step["at"])
        elif op == "timer":
            client.handle_timer(step["at"])
        elif op == "send":
            seq = client.send(
                from_json(step["value"]),
                channel=step["channel"],
                volatile=step["volatile"],
            )
            assert seq == step["seq"]
        elif op == "expect_out":
            assert client.data_to_send().hex() == step["hex"]
        elif op == "expect_close":
            (frame,) = FrameDecoder().feed(client.data_to_send())
            assert (frame.kind, frame.channel) == (FrameKind.CONTROL, Opcode.CLOSE)
            assert struct.unpack_from(">H", frame.payload)[0] == code_of(step["code"])
        elif op == "expect_events":
            events = []
            while (event := client.next_event()) is not None:
                events.append(comparable(event))
            assert events == [event_of(e) for e in step["events"]]
        else:
            assert op == "expect_timer", op
            assert client.get_timer() == step["at"]
