"""Write ``sessions.json``: scripted exchanges of the client role.

Run by hand (``python tests/vectors/generate_sessions.py``) after a change
to the session layer, then read the diff: the file is the reference that
both implementations are tested against, so every change to it must be
one the spec allows.
"""

from __future__ import annotations

import json
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Any

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
from lgserver.protocol.frames import (
    FrameKind,
    MessageFlags,
    Opcode,
    encode_control,
    encode_media,
    encode_message,
)
from lgserver.protocol.messages import Welcome
from lgserver.protocol.session import ClientSession

HERE = Path(__file__).parent

registry = Registry()


@registry.register("test.Text")
@dataclass(frozen=True, slots=True)
class Text:
    text: str


DESCRIPTION = """\
Scripted exchanges of the client role (docs/protocol.md section 6).
Each script drives a fresh client session built with the registry of
"traits" (every class a frozen object with the listed fields), the build
"vectors", no auth and max_frame 1048576. Steps, in order:
  connect {at}: connection_made(at)
  receive {at, hex}: receive_data(bytes, at)
  lost {at}: connection_lost(at)
  timer {at}: handle_timer(at)
  send {value, channel, volatile, seq}: send(); it returns seq
  expect_timer {at}: get_timer() is at (or null)
  expect_out {hex}: data_to_send() is exactly these bytes
  expect_close {code}: data_to_send() is one CLOSE frame with that code
    (the reason is free text and not compared)
  expect_events {events}: the events reported since the last such step;
    SessionEnded reasons are not compared
Values use the tagged JSON form of README.md."""


def tagged(value: Any) -> Any:
    if isinstance(value, Text):
        return {"$object": "test.Text", "fields": [["text", value.text]]}
    return value


def code_name(code: int | None) -> str | int | None:
    if code is None:
        return None
    try:
        return CloseCode(code).name
    except ValueError:
        return code


def event_json(event: SessionEvent) -> dict[str, Any]:
    if isinstance(event, SessionEstablished):
        return {"type": "SessionEstablished", "session_id": event.session_id}
    if isinstance(event, SessionResumed):
        return {"type": "SessionResumed", "replayed": event.replayed}
    if isinstance(event, MessageReceived):
        return {
            "type": "MessageReceived",
            "value": tagged(event.value),
            "channel": event.channel,
            "seq": event.seq,
        }
    if isinstance(event, MediaReceived):
        return {
            "type": "MediaReceived",
            "track": event.track,
            "flags": event.flags,
            "timestamp": event.timestamp,
            "group": event.group,
            "data": event.data.hex(),
        }
    if isinstance(event, ConnectionLost):
        return {"type": "ConnectionLost", "code": code_name(event.code)}
    if isinstance(event, SessionEnded):
        return {
            "type": "SessionEnded",
            "code": code_name(event.code),
            "remote": event.remote,
        }
    raise TypeError(event)


TOKEN_1 = bytes(range(32))
TOKEN_2 = bytes(range(32, 64))


def welcome(token: bytes, *, resumed: bool = False, last_seq: int = 0) -> bytes:
    traits = [] if resumed else [["test.Text", ["text"]]]
    body = registry.encoder.encode(
        Welcome("s-1", token, resumed, last_seq, 1 << 20, 5.0, 15.0, traits)
    )
    return encode_control(Opcode.WELCOME, body)


def message(seq: int, text: str, *, channel: int = 0) -> bytes:
    flags = MessageFlags.VOLATILE if seq == 0 else 0
    payload = registry.encoder.encode(Text(text))
    return encode_message(seq, payload, channel=channel, flags=flags)


def ack(seq: int) -> bytes:
    return encode_control(Opcode.ACK, struct.pack(">Q", seq))


def close(code: int, reason: bytes = b"") -> bytes:
    return encode_control(Opcode.CLOSE, struct.pack(">H", code) + reason)


class Script:
    """Runs a client session and writes down what it did."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.client = ClientSession(registry, build="vectors")
        self.steps: list[dict[str, Any]] = []

    def _after(self, error: bool = False) -> None:
        out = self.client.data_to_send()
        if error:
            assert out[4] == FrameKind.CONTROL and out[7] == Opcode.CLOSE
            (code,) = struct.unpack_from(">H", out, 8)
            self.steps.append({"op": "expect_close", "code": code_name(code)})
        else:
            self.steps.append({"op": "expect_out", "hex": out.hex()})
        events = []
        while (event := self.client.next_event()) is not None:
            events.append(event_json(event))
        self.steps.append({"op": "expect_events", "events": events})
        deadline = self.client.get_timer()
        self.steps.append({"op": "expect_timer", "at": deadline})

    def connect(self, at: float) -> Script:
        self.client.connection_made(at)
        self.steps.append({"op": "connect", "at": at})
        self._after()
        return self

    def receive(self, at: float, data: bytes, *, error: bool = False) -> Script:
        self.client.receive_data(data, at)
        self.steps.append({"op": "receive", "at": at, "hex": data.hex()})
        self._after(error)
        return self

    def lost(self, at: float) -> Script:
        self.client.connection_lost(at)
        self.steps.append({"op": "lost", "at": at})
        self._after()
        return self

    def timer(self, at: float) -> Script:
        self.client.handle_timer(at)
        self.steps.append({"op": "timer", "at": at})
        self._after()
        return self

    def send(self, text: str, *, channel: int = 0, volatile: bool = False) -> Script:
        seq = self.client.send(Text(text), channel=channel, volatile=volatile)
        self.steps.append(
            {
                "op": "send",
                "value": tagged(Text(text)),
                "channel": channel,
                "volatile": volatile,
                "seq": seq,
            }
        )
        self._after()
        return self

    def json(self) -> dict[str, Any]:
        return {"name": self.name, "steps": self.steps}


def opened(name: str) -> Script:
    return Script(name).connect(0.0).receive(0.0, welcome(TOKEN_1))


def scripts() -> list[Script]:
    return [
        opened("handshake, messages both ways, acks and duplicates")
        .send("hello")
        .send("on channel 4", channel=4)
        .receive(0.5, message(1, "hi") + message(2, "there", channel=9))
        .receive(0.6, ack(2))
        .receive(0.7, message(2, "there"))
        .receive(0.8, message(0, "typing"))
        .send("typing too", volatile=True),
        opened("drop and resume with replay")
        .send("one")
        .send("two")
        .receive(0.5, message(1, "A") + ack(1))
        .lost(1.0)
        .send("three")
        .send("ignored while away", volatile=True)
        .connect(2.0)
        .receive(2.1, welcome(TOKEN_2, resumed=True, last_seq=1) + message(2, "B"))
        .receive(2.2, message(2, "B") + ack(3)),
        opened("lost WELCOME: resume again with the older token")
        .lost(1.0)
        .connect(1.5)
        .lost(2.0)
        .connect(3.0)
        .receive(3.1, welcome(TOKEN_2, resumed=True)),
        opened("grace window passes").lost(1.0).connect(4.0).lost(5.0).timer(16.0),
        opened("heartbeat")
        .timer(5.0)
        .receive(5.1, encode_control(Opcode.PONG, struct.pack(">Q", 1)))
        .receive(6.0, encode_control(Opcode.PING, struct.pack(">Q", 77)))
        .timer(11.0)
        .timer(16.0)
        .timer(16.1),
        Script("handshake timeout").connect(0.0).timer(10.0).connect(11.0),
        Script("refused by the server")
        .connect(0.0)
        .receive(0.1, close(CloseCode.AUTH_FAILED, b"wrong password")),
        Script("refused until a captcha is solved")
        .connect(0.0)
        .receive(0.1, close(CloseCode.CAPTCHA_REQUIRED, b"solve a captcha")),
        opened("server closes").receive(1.0, close(CloseCode.GOING_AWAY, b"bye")),
        opened("sequence gap").receive(1.0, message(2, "skipped"), error=True),
        opened("unknown kind").receive(
            1.0, struct.pack(">IBBH", 4, 7, 0, 0), error=True
        ),
        opened("frame too large").receive(
            1.0, struct.pack(">IBBH", (1 << 20) + 1, 1, 0, 0), error=True
        ),
        opened("unknown trait").receive(
            1.0, encode_message(1, b"\x91\xd4\x01\x30"), error=True
        ),
        opened("invalid utf-8").receive(
            1.0, encode_message(1, b"\xa2\xc3\x28"), error=True
        ),
        opened("ack never sent").receive(1.0, ack(3), error=True),
        Script("message before welcome")
        .connect(0.0)
        .receive(0.1, message(1, "early"), error=True),
        Script("welcome of a resume to a hello")
        .connect(0.0)
        .receive(0.1, welcome(TOKEN_1, resumed=True), error=True),
        opened("media").receive(
            1.0, encode_media(3, 123456, 2, b"\x00\x01\x02", flags=1)
        ),
    ]


def main() -> None:
    document = {
        "description": DESCRIPTION,
        "traits": registry.trait_table(),
        "scripts": [script.json() for script in scripts()],
    }
    text = json.dumps(document, indent=1, ensure_ascii=False)
    (HERE / "sessions.json").write_text(text + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
