"""Frames: the unit of the byte stream (``docs/protocol.md`` section 2).

Every frame starts with the same 8-byte header, big-endian::

    length:u32  kind:u8  flags:u8  channel:u16

``length`` counts the bytes after the length field itself, so a frame
takes ``4 + length`` bytes. For a CONTROL frame the 16-bit field is the
opcode; for MESSAGE and MEDIA frames it is the channel (the track, for
media). A MESSAGE body then starts with its sequence number (u64), a MEDIA
body with its timestamp (u64, microseconds) and group (u32).

:class:`FrameDecoder` is a streaming parser: it accepts the input split
anywhere, checks every header against the size limit before it buffers a
single byte of that frame's payload, and never rescans what it has parsed.
"""

from __future__ import annotations

import struct
from enum import IntEnum, IntFlag
from typing import NamedTuple

from .errors import CloseCode, FrameTooLarge, LocalProtocolError, RemoteProtocolError

__all__ = [
    "DEFAULT_MAX_FRAME_SIZE",
    "HEADER_SIZE",
    "Frame",
    "FrameDecoder",
    "FrameKind",
    "MediaFlags",
    "MediaHeader",
    "MessageFlags",
    "Opcode",
    "decode_media",
    "encode_control",
    "encode_media",
    "encode_message",
    "split_frames",
]

# A frame of 1 MiB holds any chat message and a video keyframe of a few
# hundred kilobytes; larger media is split by the sender.
DEFAULT_MAX_FRAME_SIZE = 1 << 20
MAX_FRAME_SIZE_LIMIT = (1 << 32) - 1
HEADER_SIZE = 8


class FrameKind(IntEnum):
    """The ``kind`` byte of a frame header (section 2.1)."""

    CONTROL = 0
    MESSAGE = 1
    MEDIA = 2


class Opcode(IntEnum):
    """What a CONTROL frame is (section 2.2); carried in the channel field."""

    HELLO = 1
    WELCOME = 2
    RESUME = 3
    ACK = 4
    PING = 5
    PONG = 6
    CLOSE = 7


class MessageFlags(IntFlag):
    """Flags of a MESSAGE frame (section 2.3)."""

    VOLATILE = 0x01


class MediaFlags(IntFlag):
    """Flags of a MEDIA frame (section 2.4)."""

    KEYFRAME = 0x01
    DISCARDABLE = 0x02


class Frame(NamedTuple):
    """One decoded frame.

    ``channel`` is the opcode for CONTROL frames. ``seq`` is the sequence
    number of a MESSAGE frame and 0 for the other kinds. ``payload`` is the
    body after the kind-specific prefix: the encoded value of a MESSAGE,
    the whole body (timestamp, group and data) of a MEDIA frame.
    """

    kind: int
    flags: int
    channel: int
    seq: int
    payload: bytes


class MediaHeader(NamedTuple):
    """The fixed part of a MEDIA frame body (section 2.4)."""

    timestamp: int
    group: int


_header = struct.Struct(">IBBH")
_message_header = struct.Struct(">IBBHQ")
_media_header = struct.Struct(">IBBHQI")
_media_body = struct.Struct(">QI")
_unpack_header = _header.unpack_from
_length = struct.Struct(">I")
_unpack_seq = struct.Struct(">Q").unpack_from

# The smallest ``length`` each kind allows: the rest of the common header
# plus the kind's own prefix.
_MIN_LENGTH = {
    FrameKind.CONTROL: 4,
    FrameKind.MESSAGE: 4 + 8,
    FrameKind.MEDIA: 4 + 12,
}
_MESSAGE = int(FrameKind.MESSAGE)
_CONTROL = int(FrameKind.CONTROL)
_MEDIA = int(FrameKind.MEDIA)


def encode_message(
    seq: int, payload: bytes, *, channel: int = 0, flags: int = 0
) -> bytes:
    """Encode a MESSAGE frame around an already encoded value.

    Args:
        seq: The sequence number, or 0 for a volatile message.
        payload: The encoded value (see :mod:`lgserver.protocol.codec`).
        channel: The channel, 0-65535.
        flags: :class:`MessageFlags`.

    Raises:
        LocalProtocolError: A field is out of range.
    """
    try:
        header = _message_header.pack(12 + len(payload), _MESSAGE, flags, channel, seq)
    except struct.error as exc:
        raise LocalProtocolError(f"cannot encode message frame: {exc}") from None
    return header + payload


def encode_control(opcode: Opcode, payload: bytes = b"") -> bytes:
    """Encode a CONTROL frame with the given opcode and body.

    Raises:
        LocalProtocolError: The opcode is not 0-65535 or the body too large.
    """
    if len(payload) > MAX_FRAME_SIZE_LIMIT - 4:
        raise LocalProtocolError("control frame too large")
    try:
        header = _header.pack(4 + len(payload), _CONTROL, 0, opcode)
    except struct.error as exc:
        raise LocalProtocolError(f"cannot encode control frame: {exc}") from None
    return header + payload


def encode_media(
    track: int, timestamp: int, group: int, data: bytes, *, flags: int = 0
) -> bytes:
    """Encode a MEDIA frame carrying one encoded audio or video chunk.

    Args:
        track: The track id, 0-65535.
        timestamp: The chunk's presentation time in microseconds (u64).
        group: The group the chunk belongs to (u32); see section 2.4.
        data: The opaque encoded chunk.
        flags: :class:`MediaFlags`.

    Raises:
        LocalProtocolError: A field is out of range.
    """
    try:
        header = _media_header.pack(
            16 + len(data), _MEDIA, flags, track, timestamp, group
        )
    except struct.error as exc:
        raise LocalProtocolError(f"cannot encode media frame: {exc}") from None
    return header + data


def split_frames(data: bytes) -> list[bytes]:
    """Cut a run of whole frames, as a session writes them, into frames:
    one a WebSocket message (section 2.6)."""
    frames = []
    position = 0
    while position < len(data):
        (length,) = _length.unpack_from(data, position)
        end = position + 4 + length
        frames.append(data[position:end])
        position = end
    return frames


def decode_media(payload: bytes) -> tuple[MediaHeader, memoryview]:
    """Split the payload of a MEDIA :class:`Frame` into header and data.

    Raises:
        LocalProtocolError: ``payload`` is shorter than the 12 bytes of
            timestamp and group, so it is not the payload of a MEDIA frame.
    """
    try:
        timestamp, group = _media_body.unpack_from(payload)
    except struct.error:
        raise LocalProtocolError("not the payload of a media frame") from None
    return MediaHeader(timestamp, group), memoryview(payload)[12:]


class FrameDecoder:
    """Parse frames out of a byte stream split at arbitrary points.

    Args:
        max_frame_size: The largest ``length`` field accepted. A header
            that announces more raises :class:`FrameTooLarge` at once,
            before any of its payload is buffered.

    :meth:`feed` returns the frames completed by the new bytes. When a bad
    header follows good frames in the same input, the good frames are
    returned first and the error is kept in :attr:`error`; it is raised by
    the next call to :meth:`feed`. After an error the decoder stays failed.
    """

    __slots__ = ("_buffer", "_need", "error", "max_frame_size")

    def __init__(self, max_frame_size: int = DEFAULT_MAX_FRAME_SIZE) -> None:
        if not 16 <= max_frame_size <= MAX_FRAME_SIZE_LIMIT:
            raise LocalProtocolError("max_frame_size out of range")
        self.max_frame_size = max_frame_size
        self.error: RemoteProtocolError | None = None
        self._buffer = bytearray()
        # Bytes the buffer must hold before parsing can make progress, so
        # input trickling in is appended without being rescanned.
        self._need = HEADER_SIZE

    @property
    def buffered(self) -> int:
        """How many bytes of an incomplete frame are held."""
        return len(self._buffer)

    def feed(self, data: bytes | bytearray | memoryview) -> list[Frame]:
        """Add bytes from the stream and return the frames they complete.

        Raises:
            RemoteProtocolError: The stream is not valid (see the class
                documentation for when it is raised).
        """
        if self.error is not None:
            raise self.error
        buffer = self._buffer
        if buffer:
            buffer += data
            if len(buffer) < self._need:
                return []
            chunk = bytes(buffer)
            buffer.clear()
        else:
            chunk = bytes(data)
        return self._parse(chunk)

    def _parse(self, chunk: bytes) -> list[Frame]:
        frames: list[Frame] = []
        append = frames.append
        size = len(chunk)
        limit = self.max_frame_size
        pos = 0

        while size - pos >= HEADER_SIZE:
            length, kind, flags, channel = _unpack_header(chunk, pos)
            end = pos + 4 + length
            if kind == _MESSAGE and 12 <= length <= limit:
                if end > size:
                    break
                (seq,) = _unpack_seq(chunk, pos + 8)
                append(Frame(kind, flags, channel, seq, chunk[pos + 16 : end]))
            else:
                error = self._check_header(length, kind)
                if error is not None:
                    # the decoder stays failed; good frames before the bad
                    # header are handed out first and the error raised next
                    self.error = error
                    if not frames:
                        raise error
                    return frames
                if end > size:
                    break
                start = pos + 8
                append(Frame(kind, flags, channel, 0, chunk[start:end]))
            pos = end

        # keep the incomplete tail and remember how much it still needs
        if pos < size:
            self._buffer += chunk[pos:] if pos else chunk
            rest = size - pos
            if rest >= HEADER_SIZE:
                (length,) = _unpack_header(chunk, pos)[:1]
                self._need = 4 + length
            else:
                self._need = HEADER_SIZE
        else:
            self._need = HEADER_SIZE
        return frames

    def _check_header(self, length: int, kind: int) -> RemoteProtocolError | None:
        if length > self.max_frame_size:
            return FrameTooLarge(
                f"frame of {length} bytes over the limit of {self.max_frame_size}"
            )
        minimum = _MIN_LENGTH.get(kind)  # type: ignore[call-overload]
        if minimum is None:
            return RemoteProtocolError(
                f"unknown frame kind {kind}", CloseCode.UNKNOWN_KIND
            )
        if length < minimum:
            return RemoteProtocolError(
                f"frame length {length} too short for its kind",
                CloseCode.MALFORMED_FRAME,
            )
        return None
