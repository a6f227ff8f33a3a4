"""Codec benchmark: lgserver's typed codec beside msgpack, AMF3 and JSON.

Run it from the repository root::

    PYTHONPATH=src python -m bench.codec [--quick] [--json] [--rounds N]

Every codec encodes and decodes the same fifteen messages
(:mod:`bench.corpus`): ours as typed objects, decoded through a decoder
made with the registry's own trait table; the others as the same data in
plain maps. The contenders are

* ``ours``: :class:`~lgserver.protocol.codec.Encoder` and
  :class:`~lgserver.protocol.codec.Decoder`;
* ``msgpack``: ``msgpack.packb`` and ``msgpack.unpackb``, the way most
  code calls them, datetimes as MessagePack timestamps;
* ``msgpack-reused``: one ``Packer`` and one ``Unpacker`` kept for the run;
* ``amf3``: py3amf's pure Python AMF3, ``pyamf.encode`` and
  ``pyamf.decode``, bytes as AMF3 byte arrays;
* ``json``: the standard library, compact separators, datetimes as ISO
  8601 strings and bytes as base64 text (converted before timing, and not
  converted back after decoding).

Before timing, each contender must round-trip every message.

One op is one message encoded, or decoded, once. Per message, ops/s is the
rate of encoding (or decoding) that message again and again. For the
corpus, the rate is
of passes over the whole corpus, each message once in turn, counted in
messages: ``15 / (time of one pass)``. A slow large message therefore
weighs more than a quick small one, as it would on a server. A *cycle* is
one encode and one decode; its rate is ``1 / (1/encode + 1/decode)``.
Bytes are summed over the corpus.

Each figure is the median of several rounds (7 by default). In a round
each measurement runs a loop calibrated beforehand to last about 35 ms,
and the codecs take their turns on one message and direction before the
round moves on, so that a change in the machine's speed touches the
codecs being compared alike. The garbage collector stays on, as in a
server. ``--quick`` takes 3 rounds of about 2 ms each, for a smoke test.
The report opens with the versions and the load average at the start and
the end: other work on the machine moves every figure.

The frame figure is the rate at which
:class:`~lgserver.protocol.frames.FrameDecoder` parses a stream of 200,000
MESSAGE frames, each holding a 40-byte encoded typing preview, fed in
64 KiB chunks.

The run ends by checking the targets set for the codec (see
``docs/performance.md``) and printing PASS or FAIL for each. With
``--json`` the last line of the output is one JSON object: per codec
(``ours``, ``msgpack``, ``msgpack-reused``, ``amf3``, ``json``) an object
with ``encode_ops``, ``decode_ops`` and ``cycle_ops`` (corpus rates, in
messages per second) and ``bytes``; then ``frames_per_s``; ``ratios``,
ours divided by theirs, as ``cycle_vs_<codec>`` and ``bytes_vs_<codec>``
(a hyphen in the name becomes an underscore); ``targets``, each name
mapped to whether it passed; ``round_trip_failures``; ``rounds``; and
``load``. The exit status is 0 whatever the targets say.
"""

from __future__ import annotations

import argparse
import dataclasses
import functools
import json
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from itertools import repeat
from typing import Any

import msgpack
import pyamf
from pyamf import amf3

from lgserver.protocol.frames import FrameDecoder, encode_message

from .corpus import (
    REGISTRY,
    Sample,
    TypingPreview,
    base64_text,
    build_corpus,
    iso_datetime,
    to_plain,
)

__all__ = [
    "Contender",
    "Measurement",
    "Settings",
    "Target",
    "check_round_trips",
    "contenders",
    "figures",
    "frame_stream",
    "machine",
    "main",
    "measure",
    "report",
    "targets",
    "time_frames",
]

CODECS = ("ours", "msgpack", "msgpack-reused", "amf3", "json")
FRAME_COUNT = 200_000
FRAME_PAYLOAD = 40
CHUNK_SIZE = 64 * 1024


@dataclasses.dataclass(frozen=True, slots=True)
class Settings:
    """How long to measure.

    Args:
        rounds: Rounds of every measurement; figures are their medians.
        sample: Seconds one timed loop should last.
        frames: MESSAGE frames in the stream of the frame figure.
    """

    rounds: int = 7
    sample: float = 0.035
    frames: int = FRAME_COUNT


QUICK = Settings(rounds=3, sample=0.002)


@dataclasses.dataclass(frozen=True, slots=True)
class Contender:
    """A codec with the inputs it is given.

    Args:
        name: The name in the tables.
        encode: Turns a value into bytes.
        decode: Turns bytes back into a value.
        values: The corpus as this codec is given it, one value a message.
        same: Whether a decoded value equals the value that was encoded.
    """

    name: str
    encode: Callable[[Any], bytes]
    decode: Callable[[bytes], Any]
    values: list[Any]
    same: Callable[[Any, Any], bool]


@dataclasses.dataclass(frozen=True, slots=True)
class Target:
    """A figure the codec must reach; ``limit`` is a floor or a ceiling."""

    name: str
    value: float
    limit: float
    ceiling: bool = False

    @property
    def passed(self) -> bool:
        """Whether the measured value is on the right side of the limit."""
        if self.ceiling:
            return self.value <= self.limit
        return self.value >= self.limit


def _equal(decoded: Any, original: Any) -> bool:
    return bool(decoded == original)


def _amf3_normal(value: Any) -> Any:
    """An AMF3 value in the form of the corpus, for the round-trip check.

    AMF3 has no time zones (a date comes back as naive UTC), returns byte
    arrays as stream objects and integers over 28 bits as floats; the
    last compare equal to the original integers as they are.
    """
    if isinstance(value, dict):
        return {key: _amf3_normal(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_amf3_normal(item) for item in value]
    if isinstance(value, datetime) and value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    if isinstance(value, amf3.ByteArray):
        return value.getvalue()
    return value


def _amf3_same(decoded: Any, original: Any) -> bool:
    return bool(_amf3_normal(decoded) == _amf3_normal(original))


def _amf3_encode(value: Any) -> bytes:
    stream = pyamf.encode(value, encoding=pyamf.AMF3, use_ext=False)
    return stream.getvalue()  # type: ignore[no-any-return]


def _amf3_decode(data: bytes) -> Any:
    return next(pyamf.decode(data, encoding=pyamf.AMF3, use_ext=False))


_json_encoder = json.JSONEncoder(separators=(",", ":"))


def _json_encode(value: Any) -> bytes:
    return _json_encoder.encode(value).encode()


def _reused_msgpack() -> tuple[Callable[[Any], bytes], Callable[[bytes], Any]]:
    packer = msgpack.Packer(datetime=True)
    unpacker = msgpack.Unpacker(timestamp=3)

    def decode(data: bytes) -> Any:
        unpacker.feed(data)
        return unpacker.unpack()

    return packer.pack, decode


def contenders(corpus: Sequence[Sample]) -> list[Contender]:
    """The codecs of the benchmark, each with the corpus in its own form."""
    typed = [sample.value for sample in corpus]
    plain = [to_plain(value) for value in typed]
    decoder = REGISTRY.decoder(REGISTRY.trait_table())
    pack, unpack = _reused_msgpack()
    return [
        Contender("ours", REGISTRY.encoder.encode, decoder.decode, typed, _equal),
        Contender(
            "msgpack",
            functools.partial(msgpack.packb, datetime=True),
            functools.partial(msgpack.unpackb, timestamp=3),
            plain,
            _equal,
        ),
        Contender("msgpack-reused", pack, unpack, plain, _equal),
        Contender(
            "amf3",
            _amf3_encode,
            _amf3_decode,
            [to_plain(value, blobs=amf3.ByteArray) for value in typed],
            _amf3_same,
        ),
        Contender(
            "json",
            _json_encode,
            json.loads,
            [
                to_plain(value, datetimes=iso_datetime, blobs=base64_text)
                for value in typed
            ],
            _equal,
        ),
    ]


def check_round_trips(
    corpus: Sequence[Sample], codecs: Sequence[Contender]
) -> list[str]:
    """The messages some codec fails to round-trip, as "codec: message"."""
    failures = []
    for codec in codecs:
        for sample, value in zip(corpus, codec.values, strict=True):
            try:
                same = codec.same(codec.decode(codec.encode(value)), value)
            except Exception as exc:
                failures.append(f"{codec.name}: {sample.name} raised {exc!r}")
                continue
            if not same:
                failures.append(f"{codec.name}: {sample.name} differs")
    return failures


# timing


def _loop(func: Callable[[Any], Any], arg: Any, number: int) -> float:
    start = time.perf_counter()
    for _ in repeat(None, number):
        func(arg)
    return time.perf_counter() - start


def _pass_loop(func: Callable[[Any], Any], args: list[Any], number: int) -> float:
    start = time.perf_counter()
    for _ in repeat(None, number):
        for arg in args:
            func(arg)
    return time.perf_counter() - start


@dataclasses.dataclass(slots=True)
class _Job:
    """One measurement: a loop, how often to run it, its seconds per op."""

    codec: str
    direction: str
    message: str
    run: Callable[[int], float]
    ops: int
    number: int = 1
    samples: list[float] = dataclasses.field(default_factory=list)

    def calibrate(self, target: float) -> None:
        number = 1
        while True:
            elapsed = self.run(number)
            if elapsed >= target / 4 or number >= 1 << 24:
                break
            number *= 4
        self.number = max(1, round(number * target / max(elapsed, 1e-9)))

    def measure(self) -> None:
        self.samples.append(self.run(self.number) / (self.number * self.ops))

    @property
    def rate(self) -> float:
        return 1.0 / statistics.median(self.samples)


def _jobs(corpus: Sequence[Sample], codecs: Sequence[Contender]) -> list[_Job]:
    # Measurements of the same message and direction sit next to each
    # other, codec after codec, so that a burst of load on the machine
    # falls on the codecs being compared alike.
    names = ["", *(sample.name for sample in corpus)]
    inputs = {}
    for codec in codecs:
        encoded = [codec.encode(value) for value in codec.values]
        inputs[codec.name, "encode"] = (codec.encode, codec.values)
        inputs[codec.name, "decode"] = (codec.decode, encoded)
    jobs = []
    for index, message in enumerate(names):
        for direction in ("encode", "decode"):
            for codec in codecs:
                func, args = inputs[codec.name, direction]
                if message:
                    run = functools.partial(_loop, func, args[index - 1])
                    ops = 1
                else:
                    run = functools.partial(_pass_loop, func, list(args))
                    ops = len(args)
                jobs.append(_Job(codec.name, direction, message, run, ops))
    return jobs


def frame_stream(count: int) -> tuple[list[bytes], int]:
    """``count`` MESSAGE frames cut in 64 KiB chunks, and their payload size.

    The payload is a typing preview, encoded by our codec, whose text is
    padded so that the payload takes :data:`FRAME_PAYLOAD` bytes.
    """
    text = ""
    payload = b""
    while len(payload) < FRAME_PAYLOAD:
        text += "x" if text else "ok, thanks"
        payload = REGISTRY.encoder.encode(TypingPreview(4_812_337, "op:mgarcia", text))
    stream = b"".join(encode_message(seq, payload) for seq in range(1, count + 1))
    chunks = [
        stream[start : start + CHUNK_SIZE]
        for start in range(0, len(stream), CHUNK_SIZE)
    ]
    return chunks, len(payload)


def time_frames(chunks: list[bytes], count: int) -> float:
    """Seconds to parse the stream ``chunks`` with a new FrameDecoder."""
    decoder = FrameDecoder()
    parsed = 0
    start = time.perf_counter()
    for chunk in chunks:
        parsed += len(decoder.feed(chunk))
    elapsed = time.perf_counter() - start
    if parsed != count or decoder.buffered:
        raise RuntimeError(f"parsed {parsed} frames out of {count}")
    return elapsed


@dataclasses.dataclass(frozen=True, slots=True)
class Measurement:
    """What one run measured.

    ``rates`` maps (codec, "encode" or "decode", message name) to ops/s;
    the message name "" stands for passes over the whole corpus.
    ``sizes`` holds the encoded size of every message, per codec.
    """

    corpus: list[Sample]
    rounds: int
    rates: dict[tuple[str, str, str], float]
    sizes: dict[str, list[int]]
    failures: list[str]
    frames: int
    frame_payload: int
    frames_per_s: float
    load: tuple[float, float]


def machine() -> str:
    """The interpreter, the libraries and the processors the run used."""
    kind = "C" if msgpack.Packer.__module__.endswith("_cmsgpack") else "Python"
    return (
        f"Python {platform.python_version()}, msgpack "
        f"{'.'.join(map(str, msgpack.version))} ({kind}), py3amf "
        f"{pyamf.__version__} (Python), {os.cpu_count()} CPUs"
    )


def measure(settings: Settings) -> Measurement:
    """Check the round trips, then time every codec and the frame decoder.

    Raises:
        RuntimeError: The frame decoder lost frames.
    """
    load = os.getloadavg()[0]
    corpus = build_corpus()
    codecs = contenders(corpus)
    failures = check_round_trips(corpus, codecs)
    sizes = {
        codec.name: [len(codec.encode(value)) for value in codec.values]
        for codec in codecs
    }

    # calibrate every loop, then run the rounds over all of them in turn
    jobs = _jobs(corpus, codecs)
    for job in jobs:
        job.calibrate(settings.sample)
    for _ in range(settings.rounds):
        for job in jobs:
            job.measure()
    rates = {(job.codec, job.direction, job.message): job.rate for job in jobs}

    chunks, payload = frame_stream(settings.frames)
    times = [time_frames(chunks, settings.frames) for _ in range(settings.rounds)]
    return Measurement(
        corpus=corpus,
        rounds=settings.rounds,
        rates=rates,
        sizes=sizes,
        failures=failures,
        frames=settings.frames,
        frame_payload=payload,
        frames_per_s=settings.frames / statistics.median(times),
        load=(load, os.getloadavg()[0]),
    )


def _cycle(encode: float, decode: float) -> float:
    return 1.0 / (1.0 / encode + 1.0 / decode)


def figures(measurement: Measurement) -> dict[str, Any]:
    """The figures of the ``--json`` line, ratios and target verdicts included."""
    result: dict[str, Any] = {}
    for name in CODECS:
        encode = measurement.rates[(name, "encode", "")]
        decode = measurement.rates[(name, "decode", "")]
        result[name] = {
            "encode_ops": round(encode),
            "decode_ops": round(decode),
            "cycle_ops": round(_cycle(encode, decode)),
            "bytes": sum(measurement.sizes[name]),
        }

    # ratios from the unrounded rates
    ours = _cycle(
        measurement.rates[("ours", "encode", "")],
        measurement.rates[("ours", "decode", "")],
    )
    ratios = {}
    for name in CODECS[1:]:
        theirs = _cycle(
            measurement.rates[(name, "encode", "")],
            measurement.rates[(name, "decode", "")],
        )
        key = name.replace("-", "_")
        ratios[f"cycle_vs_{key}"] = round(ours / theirs, 4)
        ratios[f"bytes_vs_{key}"] = round(
            result["ours"]["bytes"] / result[name]["bytes"], 4
        )

    result["frames_per_s"] = round(measurement.frames_per_s)
    result["ratios"] = ratios
    result["targets"] = {target.name: target.passed for target in targets(result)}
    result["round_trip_failures"] = measurement.failures
    result["rounds"] = measurement.rounds
    result["load"] = list(measurement.load)
    return result


def targets(result: dict[str, Any]) -> list[Target]:
    """The targets of ``docs/performance.md``, checked against ``result``."""
    ratios = result["ratios"]
    return [
        Target("cycle >= 40% of msgpack", ratios["cycle_vs_msgpack"], 0.40),
        Target("cycle >= 20x amf3", ratios["cycle_vs_amf3"], 20.0),
        Target("bytes <= 70% of msgpack", ratios["bytes_vs_msgpack"], 0.70, True),
        Target("frames >= 500,000/s", result["frames_per_s"], 500_000.0),
    ]


def _table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    widths = [
        max(len(row[column]) for row in [header, *rows])
        for column in range(len(header))
    ]
    lines = []
    for row in [header, *rows]:
        cells = [row[0].ljust(widths[0])]
        pairs = zip(row[1:], widths[1:], strict=True)
        cells += [cell.rjust(width) for cell, width in pairs]
        lines.append("  ".join(cells))
    return lines


def _number(value: float) -> str:
    return f"{value:,.0f}"


def report(measurement: Measurement, result: dict[str, Any]) -> list[str]:
    """The lines of the human-readable report."""
    corpus, rates, sizes = measurement.corpus, measurement.rates, measurement.sizes
    header = ["message", *CODECS]
    lines = [
        machine(),
        "Load average over 1 min, at the start and the end: "
        f"{measurement.load[0]:.2f}, {measurement.load[1]:.2f}",
        f"Corpus: {len(corpus)} messages. Medians of {measurement.rounds} rounds; "
        "one op = one message.",
    ]

    # per message
    for direction in ("encode", "decode"):
        rows = [
            [sample.name]
            + [_number(rates[(name, direction, sample.name)]) for name in CODECS]
            for sample in corpus
        ]
        title = f"{direction.capitalize()}, ops/s, per message"
        lines += ["", title, *_table(header, rows)]
    rows = [
        [sample.name] + [str(sizes[name][index]) for name in CODECS]
        for index, sample in enumerate(corpus)
    ]
    lines += ["", "Encoded bytes, per message", *_table(header, rows)]

    # the whole corpus
    rows = [
        [
            name,
            _number(result[name]["encode_ops"]),
            _number(result[name]["decode_ops"]),
            _number(result[name]["cycle_ops"]),
            _number(result[name]["bytes"]),
        ]
        for name in CODECS
    ]
    lines += [
        "",
        "Whole corpus (ops/s in messages per second)",
        *_table(["codec", "encode/s", "decode/s", "cycle/s", "bytes"], rows),
    ]
    ratios = result["ratios"]
    rows = [
        [
            name,
            f"{ratios['cycle_vs_' + name.replace('-', '_')]:.2f}",
            f"{ratios['bytes_vs_' + name.replace('-', '_')]:.2f}",
        ]
        for name in CODECS[1:]
    ]
    lines += [
        "",
        "Ours divided by theirs",
        *_table(["against", "cycle/s", "bytes"], rows),
    ]

    # frames and targets
    lines += [
        "",
        f"Frames: {measurement.frames:,} MESSAGE frames of "
        f"{measurement.frame_payload}-byte payloads in {CHUNK_SIZE // 1024} KiB "
        f"chunks: {_number(measurement.frames_per_s)} frames/s",
        "",
        "Targets",
    ]
    for target in targets(result):
        verdict = "PASS" if target.passed else "FAIL"
        lines.append(f"  {verdict}  {target.name}: {target.value:,.2f}")
    if measurement.failures:
        lines += ["", "Round trip failures"]
        lines += [f"  {failure}" for failure in measurement.failures]
    return lines


def main(argv: Sequence[str] | None = None) -> int:
    """Parse the command line, run the benchmark and return the exit status."""
    parser = argparse.ArgumentParser(
        prog="python -m bench.codec", description=(__doc__ or "").split("\n", 1)[0]
    )
    parser.add_argument(
        "--quick", action="store_true", help="a smoke run of a few seconds"
    )
    parser.add_argument(
        "--json", action="store_true", help="end with one line of JSON figures"
    )
    parser.add_argument("--rounds", type=int, help="rounds to take the median of")
    args = parser.parse_args(argv)
    settings = QUICK if args.quick else Settings()
    if args.rounds is not None:
        if args.rounds < 1:
            parser.error("--rounds must be at least 1")
        settings = dataclasses.replace(settings, rounds=args.rounds)
    began = time.perf_counter()
    measurement = measure(settings)
    result = figures(measurement)
    lines = report(measurement, result)
    lines += ["", f"Took {time.perf_counter() - began:.1f} s"]
    print("\n".join(lines))
    if args.json:
        print(json.dumps(result, separators=(",", ":")))
    return 0


if __name__ == "__main__":
    sys.exit(main())
