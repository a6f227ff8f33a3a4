"""A corpus of realistic lgserver messages, typed and as plain data.

The message classes below are what a chat deployment registers on top of
the protocol's own (``docs/protocol.md`` section 3.4): chat lines, typing
previews, queue updates, incoming calls, operator status, transfers,
canned texts and forms. :data:`REGISTRY` holds them, fifteen classes in
all, so the WELCOME in the corpus carries a trait table of that size.

:func:`to_plain` turns any corpus value into the plain data a user of a
schemaless codec would send instead: each typed object becomes a map from
field name to value, with no type tag, so the baselines carry field names
but never the message type.
"""

from __future__ import annotations

import base64
import dataclasses
import hashlib
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any, NamedTuple

from lgserver.protocol.codec import Registry
from lgserver.protocol.messages import Call, Result, Welcome

__all__ = [
    "REGISTRY",
    "Sample",
    "base64_text",
    "build_corpus",
    "iso_datetime",
    "same",
    "to_plain",
]

REGISTRY = Registry()

# Every timestamp in the corpus is a few seconds around this instant.
_NOW = datetime(2024, 11, 5, 14, 32, 7, 412000, tzinfo=UTC)


@REGISTRY.register("chat.Message")
@dataclasses.dataclass(frozen=True, slots=True)
class ChatMessage:
    """A line of text in a chat, from the customer or an operator."""

    chat_id: int
    message_id: int
    sender: str
    text: str
    sent_at: datetime


@REGISTRY.register("chat.TypingPreview")
@dataclasses.dataclass(frozen=True, slots=True)
class TypingPreview:
    """What the customer is typing, shown to the operator before it is sent."""

    chat_id: int
    sender: str
    text: str


@REGISTRY.register("queue.Position")
@dataclasses.dataclass(frozen=True, slots=True)
class QueuePosition:
    """A waiting customer's place in the queue; the wait is in seconds."""

    chat_id: int
    position: int
    estimated_wait: float


@REGISTRY.register("queue.IncomingCall")
@dataclasses.dataclass(frozen=True, slots=True)
class IncomingCall:
    """A chat request offered to operators; ``waited`` is in seconds."""

    call_id: int
    department: str
    visitor_id: str
    visitor_name: str
    origin_url: str
    country: str
    waited: float
    priority: int


@REGISTRY.register("queue.Snapshot")
@dataclasses.dataclass(frozen=True, slots=True)
class QueueSnapshot:
    """The calls waiting in a department, as an operator's console lists them."""

    department: str
    taken_at: datetime
    calls: list[IncomingCall]


@REGISTRY.register("media.ChunkInfo")
@dataclasses.dataclass(frozen=True, slots=True)
class MediaChunkInfo:
    """The description of one audio or video chunk; the time is in µs."""

    track: int
    timestamp: int
    group: int
    keyframe: bool
    size: int


@REGISTRY.register("operator.Status")
@dataclasses.dataclass(frozen=True, slots=True)
class OperatorStatus:
    """An operator went online, away or offline."""

    operator_id: str
    status: str
    message: str | None
    changed_at: datetime


@REGISTRY.register("chat.Transferred")
@dataclasses.dataclass(frozen=True, slots=True)
class ChatTransferred:
    """A chat moved from one operator to another."""

    chat_id: int
    from_operator: str
    to_operator: str
    department: str
    reason: str | None
    at: datetime


@REGISTRY.register("chat.TransferRequest")
@dataclasses.dataclass(frozen=True, slots=True)
class TransferRequest:
    """The parameters of an operator's ``chat.transfer`` call."""

    chat_id: int
    to_operator: str
    department: str
    note: str


@REGISTRY.register("chat.CustomerLeft")
@dataclasses.dataclass(frozen=True, slots=True)
class CustomerLeft:
    """The customer closed the chat or went away."""

    chat_id: int
    visitor_id: str
    reason: str
    at: datetime


@REGISTRY.register("canned.Text")
@dataclasses.dataclass(frozen=True, slots=True)
class CannedText:
    """A prepared answer an operator can insert with a click."""

    id: int
    title: str
    text: str
    tags: list[str]


@REGISTRY.register("canned.List")
@dataclasses.dataclass(frozen=True, slots=True)
class CannedTexts:
    """An operator's prepared answers, sent when the console opens."""

    operator_id: str
    items: list[CannedText]


@REGISTRY.register("form.Field")
@dataclasses.dataclass(frozen=True, slots=True)
class FormField:
    """One input of a form; ``options`` lists the choices of a select."""

    name: str
    label: str
    kind: str
    required: bool
    options: list[str]
    value: str | None


@REGISTRY.register("form.Form")
@dataclasses.dataclass(frozen=True, slots=True)
class CustomerForm:
    """A form pushed to the customer, such as the pre-chat survey."""

    chat_id: int
    form_id: str
    title: str
    fields: list[FormField]


@REGISTRY.register("chat.ReadReceipt")
@dataclasses.dataclass(frozen=True, slots=True)
class ReadReceipt:
    """The customer or operator has read the chat up to a message."""

    chat_id: int
    message_id: int
    reader: str
    read_at: datetime


class Sample(NamedTuple):
    """One message of the corpus: a short name and the typed value."""

    name: str
    value: Any


_VISITORS = (
    ("v-7f3a9c2e", "Anna Schmidt", "DE"),
    ("v-0b81d4f7", "Lucas Martin", "FR"),
    ("v-c4e2a913", "Sofia Rossi", "IT"),
    ("v-5d9f0a6b", "James Walker", "GB"),
    ("v-e13b7c58", "Emma de Vries", "NL"),
    ("v-9a6c2f01", "Mateo García", "ES"),
    ("v-3f7e8d24", "Olivia Brown", "US"),
)
_PAGES = (
    "https://shop.example.com/checkout/payment?step=2",
    "https://shop.example.com/products/trail-runner-gtx-42",
    "https://shop.example.com/account/orders/58-2291",
    "https://www.example.com/pricing#business",
    "https://help.example.com/articles/returns-and-refunds",
)
_DEPARTMENTS = ("Sales", "Support", "Billing")


def _incoming_call(index: int) -> IncomingCall:
    visitor_id, name, country = _VISITORS[index % len(_VISITORS)]
    return IncomingCall(
        call_id=731_040 + index * 7,
        department=_DEPARTMENTS[index % len(_DEPARTMENTS)],
        visitor_id=visitor_id,
        visitor_name=name,
        origin_url=_PAGES[index % len(_PAGES)],
        country=country,
        waited=4.5 + index * 11.25,
        priority=1 if index % 5 else 2,
    )


def _canned_texts() -> CannedTexts:
    answers = (
        ("Greeting", "Hello, my name is Maria. How can I help you today?"),
        ("One moment", "Thank you, one moment please while I look into it."),
        ("Order status", "Your order has left our warehouse and ships today."),
        ("Returns", "You can return any item within 30 days of delivery."),
        ("Refund time", "Refunds reach your account within 5 working days."),
        ("Password", "You can reset your password from the login page."),
        ("Opening hours", "Our team is here Monday to Friday, 8:00 to 20:00."),
        ("Goodbye", "Thank you for contacting us. Have a great day!"),
    )
    tags = (["general"], ["general"], ["orders", "shipping"], ["returns"])
    items = [
        CannedText(id=120 + i, title=title, text=text, tags=tags[i % len(tags)])
        for i, (title, text) in enumerate(answers)
    ]
    return CannedTexts(operator_id="op:mgarcia", items=items)


def _customer_form() -> CustomerForm:
    fields = [
        FormField("name", "Your name", "text", True, [], None),
        FormField("email", "E-mail address", "email", True, [], None),
        FormField("order", "Order number", "text", False, [], "58-2291"),
        FormField(
            "topic",
            "What is it about?",
            "select",
            True,
            ["Order", "Delivery", "Returns", "Payment", "Other"],
            None,
        ),
        FormField("consent", "I accept the privacy policy", "checkbox", True, [], None),
    ]
    return CustomerForm(
        chat_id=4_812_337, form_id="pre-chat-v3", title="Before we start", fields=fields
    )


def build_corpus() -> list[Sample]:
    """The messages of the benchmark, from the smallest to the largest kinds."""
    transfer = ChatTransferred(
        chat_id=4_812_337,
        from_operator="op:mgarcia",
        to_operator="op:jlopez",
        department="Billing",
        reason="Refund question",
        at=_NOW + timedelta(seconds=41),
    )
    welcome = Welcome(
        session="s-6f1c2a9b8e3d4f70",
        token=hashlib.sha256(b"lgserver bench session token").digest(),
        resumed=False,
        last_seq=0,
        max_frame=1 << 20,
        heartbeat=20.0,
        grace=60.0,
        traits=REGISTRY.trait_table(),
    )
    return [
        Sample(
            "chat_message",
            ChatMessage(
                chat_id=4_812_337,
                message_id=19_250_467,
                sender="op:mgarcia",
                text=(
                    "Hello Anna, I can see order 58-2291 has not shipped yet. "
                    "Give me a moment while I check with the warehouse."
                ),
                sent_at=_NOW,
            ),
        ),
        Sample(
            "typing_preview",
            TypingPreview(4_812_337, "v-7f3a9c2e", "my order number is 58-22"),
        ),
        Sample("queue_position", QueuePosition(4_812_341, 3, 95.0)),
        Sample("incoming_call", _incoming_call(0)),
        Sample("welcome", welcome),
        Sample(
            "media_chunk",
            MediaChunkInfo(
                track=2,
                timestamp=1_730_817_127_412_000,
                group=1532,
                keyframe=False,
                size=160,
            ),
        ),
        Sample(
            "queue_snapshot",
            QueueSnapshot("Support", _NOW, [_incoming_call(i) for i in range(20)]),
        ),
        Sample(
            "operator_status",
            OperatorStatus("op:jlopez", "away", "Lunch, back at 14:00", _NOW),
        ),
        Sample("chat_transferred", transfer),
        Sample(
            "call_transfer",
            Call(
                id=17,
                method="chat.transfer",
                params=TransferRequest(
                    chat_id=4_812_337,
                    to_operator="op:jlopez",
                    department="Billing",
                    note="Customer asks about a refund for invoice 2024-0918.",
                ),
            ),
        ),
        Sample("result_transfer", Result(id=17, value=transfer)),
        Sample(
            "customer_left",
            CustomerLeft(
                4_812_337, "v-7f3a9c2e", "closed_window", _NOW + timedelta(minutes=6)
            ),
        ),
        Sample("canned_texts", _canned_texts()),
        Sample("customer_form", _customer_form()),
        Sample(
            "read_receipt",
            ReadReceipt(
                4_812_337, 19_250_467, "v-7f3a9c2e", _NOW + timedelta(seconds=3)
            ),
        ),
    ]


def same(value: Any) -> Any:
    """Leave a value as it is (the default conversion of :func:`to_plain`)."""
    return value


def iso_datetime(value: datetime) -> str:
    """A datetime as an ISO 8601 string, the usual form in JSON."""
    return value.isoformat()


def base64_text(value: bytes) -> str:
    """Bytes as base64 text, the usual form in JSON."""
    return base64.b64encode(value).decode("ascii")


def to_plain(
    value: Any,
    *,
    datetimes: Callable[[datetime], Any] = same,
    blobs: Callable[[bytes], Any] = same,
) -> Any:
    """The plain data (maps, lists and scalars) that ``value`` holds.

    Args:
        value: A corpus value, typed objects and all.
        datetimes: Applied to every datetime.
        blobs: Applied to every bytes value.
    """
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {
            field.name: to_plain(
                getattr(value, field.name), datetimes=datetimes, blobs=blobs
            )
            for field in dataclasses.fields(value)
        }
    if isinstance(value, list | tuple):
        return [to_plain(item, datetimes=datetimes, blobs=blobs) for item in value]
    if isinstance(value, dict):
        return {
            key: to_plain(item, datetimes=datetimes, blobs=blobs)
            for key, item in value.items()
        }
    if isinstance(value, datetime):
        return datetimes(value)
    if isinstance(value, bytes):
        return blobs(value)
    return value
