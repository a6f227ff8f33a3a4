"""Tests of :mod:`lgserver.protocol.frames` (``docs/protocol.md`` section 2)."""

from __future__ import annotations

import struct
from collections.abc import Callable, Iterable
from itertools import pairwise
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lgserver.protocol.errors import (
    CloseCode,
    FrameTooLarge,
    LocalProtocolError,
    RemoteProtocolError,
)
from lgserver.protocol.frames import (
    DEFAULT_MAX_FRAME_SIZE,
    HEADER_SIZE,
    Frame,
    FrameDecoder,
    FrameKind,
    MediaFlags,
    MediaHeader,
    MessageFlags,
    Opcode,
    decode_media,
    encode_control,
    encode_media,
    encode_message,
)

from .vectors import load

FRAMES = load("frames.json")
VALID = [v for v in FRAMES["vectors"] if "error" not in v]
INVALID = [v for v in FRAMES["vectors"] if "error" in v]
STREAM = b"".join(bytes.fromhex(v["hex"]) for v in VALID)


def name_of(vector: dict[str, Any]) -> str:
    return str(vector["name"])


def expected(vector: dict[str, Any]) -> Frame:
    fields = vector["frame"]
    payload = bytes.fromhex(fields["payload"])
    return Frame(
        fields["kind"], fields["flags"], fields["channel"], fields["seq"], payload
    )


STREAM_FRAMES = [expected(v) for v in VALID]


def encode(frame: Frame) -> bytes:
    """Encode ``frame`` with the function for its kind."""
    if frame.kind == FrameKind.CONTROL:
        assert frame.flags == 0
        return encode_control(Opcode(frame.channel), frame.payload)
    if frame.kind == FrameKind.MESSAGE:
        return encode_message(
            frame.seq, frame.payload, channel=frame.channel, flags=frame.flags
        )
    head, data = decode_media(frame.payload)
    return encode_media(
        frame.channel, head.timestamp, head.group, bytes(data), flags=frame.flags
    )


def feed_all(decoder: FrameDecoder, chunks: Iterable[bytes]) -> list[Frame]:
    frames: list[Frame] = []
    for chunk in chunks:
        frames += decoder.feed(chunk)
    return frames


def bytewise(data: bytes) -> list[bytes]:
    return [data[i : i + 1] for i in range(len(data))]


def header(length: int, kind: int, flags: int = 0, channel: int = 0) -> bytes:
    return struct.pack(">IBBH", length, kind, flags, channel)


# -- the shared vectors


def test_vector_file_is_consistent() -> None:
    names = [v["name"] for v in FRAMES["vectors"]]
    assert len(names) == len(set(names))
    assert {v["error"] for v in INVALID} <= set(CloseCode.__members__)
    kinds = {(v["frame"]["kind"], v["frame"]["flags"]) for v in VALID}
    assert {(0, 0), (1, 0), (1, 1), (2, 1), (2, 2)} <= kinds


@pytest.mark.parametrize("vector", VALID, ids=name_of)
def test_decode_vector(vector: dict[str, Any]) -> None:
    decoder = FrameDecoder()
    assert decoder.feed(bytes.fromhex(vector["hex"])) == [expected(vector)]
    assert decoder.buffered == 0
    assert decoder.error is None


@pytest.mark.parametrize("vector", VALID, ids=name_of)
def test_encode_vector(vector: dict[str, Any]) -> None:
    assert encode(expected(vector)).hex() == vector["hex"]


@pytest.mark.parametrize("vector", VALID, ids=name_of)
def test_decode_vector_byte_at_a_time(vector: dict[str, Any]) -> None:
    decoder = FrameDecoder()
    data = bytes.fromhex(vector["hex"])
    # nothing comes out before the last byte, the whole frame with it
    for i in range(len(data) - 1):
        assert decoder.feed(data[i : i + 1]) == []
        assert decoder.buffered == i + 1
    assert decoder.feed(data[-1:]) == [expected(vector)]
    assert decoder.buffered == 0


@pytest.mark.parametrize("vector", INVALID, ids=name_of)
def test_decode_invalid_vector(vector: dict[str, Any]) -> None:
    decoder = FrameDecoder(vector["max_frame_size"])
    with pytest.raises(RemoteProtocolError) as info:
        decoder.feed(bytes.fromhex(vector["hex"]))
    assert info.value.code == CloseCode[vector["error"]]
    assert isinstance(info.value, FrameTooLarge) == (
        info.value.code == CloseCode.FRAME_TOO_LARGE
    )
    # the decoder stays failed
    assert decoder.error is info.value
    with pytest.raises(RemoteProtocolError) as again:
        decoder.feed(STREAM)
    assert again.value is info.value


@pytest.mark.parametrize("vector", INVALID, ids=name_of)
def test_invalid_vector_fails_as_its_header_completes(vector: dict[str, Any]) -> None:
    decoder = FrameDecoder(vector["max_frame_size"])
    data = bytes.fromhex(vector["hex"])
    for i in range(HEADER_SIZE - 1):
        assert decoder.feed(data[i : i + 1]) == []
    with pytest.raises(RemoteProtocolError) as info:
        decoder.feed(data[HEADER_SIZE - 1 : HEADER_SIZE])
    assert info.value.code == CloseCode[vector["error"]]


# -- streams split anywhere


def test_stream_whole() -> None:
    decoder = FrameDecoder()
    assert decoder.feed(STREAM) == STREAM_FRAMES
    assert decoder.buffered == 0


def test_stream_byte_at_a_time() -> None:
    decoder = FrameDecoder()
    assert feed_all(decoder, bytewise(STREAM)) == STREAM_FRAMES
    assert decoder.buffered == 0


def test_empty_feeds_change_nothing() -> None:
    decoder = FrameDecoder()
    assert decoder.feed(b"") == []
    half = len(STREAM) // 2
    frames = decoder.feed(STREAM[:half]) + decoder.feed(b"")
    frames += decoder.feed(memoryview(STREAM)[half:]) + decoder.feed(bytearray())
    assert frames == STREAM_FRAMES


@given(st.lists(st.integers(0, len(STREAM)), max_size=40))
@settings(max_examples=300, deadline=None)
def test_stream_random_splits(cuts: list[int]) -> None:
    points = [0, *sorted(cuts), len(STREAM)]
    chunks = [STREAM[a:b] for a, b in pairwise(points)]
    decoder = FrameDecoder()
    assert feed_all(decoder, chunks) == STREAM_FRAMES
    assert decoder.buffered == 0


FRAME_STRATEGY = st.one_of(
    st.builds(
        Frame,
        st.just(int(FrameKind.CONTROL)),
        st.just(0),
        st.integers(0, 0xFFFF),
        st.just(0),
        st.binary(max_size=40),
    ),
    st.builds(
        Frame,
        st.just(int(FrameKind.MESSAGE)),
        st.integers(0, 0xFF),
        st.integers(0, 0xFFFF),
        st.integers(0, 2**64 - 1),
        st.binary(max_size=40),
    ),
    st.builds(
        Frame,
        st.just(int(FrameKind.MEDIA)),
        st.integers(0, 0xFF),
        st.integers(0, 0xFFFF),
        st.just(0),
        st.binary(min_size=12, max_size=52),
    ),
)


def encode_any(frame: Frame) -> bytes:
    # CONTROL frames with any 16-bit opcode: the frame layer does not judge
    if frame.kind == FrameKind.CONTROL:
        return encode_control(frame.channel, frame.payload)  # type: ignore[arg-type]
    return encode(frame)


@given(st.lists(FRAME_STRATEGY, max_size=8), st.data())
@settings(max_examples=300, deadline=None)
def test_frames_round_trip(frames: list[Frame], data: st.DataObject) -> None:
    stream = b"".join(map(encode_any, frames))
    cuts = data.draw(st.lists(st.integers(0, len(stream)), max_size=10))
    points = [0, *sorted(cuts), len(stream)]
    decoder = FrameDecoder(DEFAULT_MAX_FRAME_SIZE)
    chunks = [stream[a:b] for a, b in pairwise(points)]
    assert feed_all(decoder, chunks) == frames
    assert decoder.buffered == 0


@given(st.binary(max_size=64), st.lists(st.integers(1, 16), max_size=8))
@settings(max_examples=1500, deadline=None)
def test_random_bytes_raise_only_remote_errors(data: bytes, sizes: list[int]) -> None:
    decoder = FrameDecoder(4096)
    position = 0
    try:
        for size in [*sizes, len(data)]:
            for frame in decoder.feed(data[position : position + size]):
                assert frame.kind in (0, 1, 2)
            position += size
    except RemoteProtocolError as exc:
        assert exc.code in (
            CloseCode.FRAME_TOO_LARGE,
            CloseCode.UNKNOWN_KIND,
            CloseCode.MALFORMED_FRAME,
        )


def test_64_kib_chunks() -> None:
    media = encode_media(1, 10, 3, bytes(range(256)) * 3900, flags=MediaFlags.KEYFRAME)
    largest = encode_message(9, b"\xc4" * (DEFAULT_MAX_FRAME_SIZE - 12))
    stream = b"".join(
        [
            encode_message(1, b"\xc0"),
            media,
            encode_control(Opcode.PING, bytes(8)),
            largest,
            encode_message(2, b"\xc3" * 200_000, channel=4),
            encode_media(1, 11, 3, b"\x00"),
        ]
    )
    whole = FrameDecoder().feed(stream)
    assert [f.kind for f in whole] == [1, 2, 0, 1, 1, 2]
    assert len(whole[3].payload) == DEFAULT_MAX_FRAME_SIZE - 12
    decoder = FrameDecoder()
    step = 64 * 1024
    frames: list[Frame] = []
    for start in range(0, len(stream), step):
        frames += decoder.feed(stream[start : start + step])
        # what is held is never more than one frame
        assert decoder.buffered < DEFAULT_MAX_FRAME_SIZE + 4
    assert frames == whole
    assert decoder.buffered == 0


# -- the size limit, checked from the header


def test_oversized_header_raises_before_its_payload() -> None:
    decoder = FrameDecoder(4096)
    with pytest.raises(FrameTooLarge) as info:
        decoder.feed(header(1 << 30, FrameKind.MEDIA))
    assert info.value.code == CloseCode.FRAME_TOO_LARGE
    assert decoder.buffered <= HEADER_SIZE


def test_oversized_header_with_payload_bytes() -> None:
    decoder = FrameDecoder(4096)
    assert decoder.feed(header(5000, FrameKind.MESSAGE)[:5]) == []
    with pytest.raises(FrameTooLarge):
        decoder.feed(header(5000, FrameKind.MESSAGE)[5:] + bytes(3000))
    assert decoder.buffered <= HEADER_SIZE


def test_frame_of_exactly_the_limit() -> None:
    decoder = FrameDecoder(4096)
    data = encode_message(1, b"\x00" * (4096 - 12))
    assert decoder.feed(data[:HEADER_SIZE]) == []
    assert decoder.feed(data[HEADER_SIZE:]) == [Frame(1, 0, 0, 1, b"\x00" * 4084)]
    with pytest.raises(FrameTooLarge):
        decoder.feed(encode_media(0, 0, 0, b"\x00" * (4097 - 16)))


def test_good_frames_come_before_a_bad_header() -> None:
    decoder = FrameDecoder(4096)
    good = encode_message(1, b"\xc0") + encode_control(Opcode.ACK, bytes(8))
    frames = decoder.feed(good + header(4097, FrameKind.MESSAGE))
    assert [f.kind for f in frames] == [FrameKind.MESSAGE, FrameKind.CONTROL]
    error = decoder.error
    assert isinstance(error, FrameTooLarge)
    with pytest.raises(FrameTooLarge) as info:
        decoder.feed(b"")
    assert info.value is error


def test_good_frame_completed_with_a_bad_header() -> None:
    decoder = FrameDecoder()
    good = encode_message(7, b"\xc2")
    assert decoder.feed(good[:10]) == []
    assert decoder.feed(good[10:] + header(4, 9)) == [Frame(1, 0, 0, 7, b"\xc2")]
    assert decoder.error is not None
    assert decoder.error.code == CloseCode.UNKNOWN_KIND
    with pytest.raises(RemoteProtocolError):
        decoder.feed(good)


@pytest.mark.parametrize("size", [15, 0, -1, 2**32])
def test_max_frame_size_out_of_range(size: int) -> None:
    with pytest.raises(LocalProtocolError):
        FrameDecoder(size)


@pytest.mark.parametrize("size", [16, 2**32 - 1])
def test_max_frame_size_extremes(size: int) -> None:
    decoder = FrameDecoder(size)
    assert decoder.max_frame_size == size
    assert decoder.feed(encode_media(0, 0, 0, b"")) == [Frame(2, 0, 0, 0, bytes(12))]


# -- encoding


@pytest.mark.parametrize(
    "call",
    [
        lambda: encode_message(-1, b""),
        lambda: encode_message(2**64, b""),
        lambda: encode_message(1, b"", channel=-1),
        lambda: encode_message(1, b"", channel=65536),
        lambda: encode_message(1, b"", flags=256),
        lambda: encode_message(1, b"", flags=-1),
        lambda: encode_media(65536, 0, 0, b""),
        lambda: encode_media(-1, 0, 0, b""),
        lambda: encode_media(0, 2**64, 0, b""),
        lambda: encode_media(0, -1, 0, b""),
        lambda: encode_media(0, 0, 2**32, b""),
        lambda: encode_media(0, 0, 0, b"", flags=256),
        lambda: encode_control(65536, b""),  # type: ignore[arg-type]
        lambda: encode_control(-1, b""),  # type: ignore[arg-type]
    ],
    ids=[
        "seq-negative",
        "seq-2^64",
        "channel-negative",
        "channel-65536",
        "flags-256",
        "flags-negative",
        "track-65536",
        "track-negative",
        "timestamp-2^64",
        "timestamp-negative",
        "group-2^32",
        "media-flags-256",
        "opcode-65536",
        "opcode-negative",
    ],
)
def test_encode_range_errors(call: Callable[[], bytes]) -> None:
    with pytest.raises(LocalProtocolError):
        call()


def test_encode_at_the_range_limits() -> None:
    data = encode_message(
        2**64 - 1, b"v", channel=65535, flags=MessageFlags.VOLATILE | 0xFE
    )
    assert data.hex() == "0000000d01ffffffffffffffffffffff76"
    data = encode_media(65535, 2**64 - 1, 2**32 - 1, b"", flags=0xFF)
    assert data.hex() == "0000001002ffffff" + "ff" * 12


def test_decode_media() -> None:
    (frame,) = FrameDecoder().feed(encode_media(3, 2**40 + 5, 77, b"chunk", flags=3))
    assert frame.flags == MediaFlags.KEYFRAME | MediaFlags.DISCARDABLE
    head, data = decode_media(frame.payload)
    assert head == MediaHeader(timestamp=2**40 + 5, group=77)
    assert isinstance(data, memoryview)
    assert data.tobytes() == b"chunk"
    head, data = decode_media(bytes(12))
    assert head == MediaHeader(0, 0)
    assert len(data) == 0


def test_decode_media_too_short() -> None:
    with pytest.raises(LocalProtocolError):
        decode_media(bytes(11))
