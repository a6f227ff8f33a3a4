"""Call routing: offer and assign modes, queue order, positions and
estimates, leave-a-message, transfers, lost operators, timers, status and
cap changes, and refused commands that change nothing."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from lgserver.chat.errors import (
    ClockWentBack,
    DuplicateCall,
    DuplicateDepartment,
    DuplicateOperator,
    InvalidArgument,
    LeaveMessageNotOffered,
    NotOffered,
    NotYourChat,
    OperatorBusy,
    OperatorUnavailable,
    QueueFull,
    RoutingError,
    UnknownCall,
    UnknownDepartment,
    UnknownOperator,
)
from lgserver.chat.events import (
    CallAccepted,
    CallAssigned,
    CallEnded,
    CallTransferred,
    ChatRequeued,
    CustomerLeft,
    LeaveMessageOffered,
    LeaveMessageReason,
    OfferMade,
    OfferWithdrawn,
    Outcome,
    QueuePosition,
    RequeueReason,
    RoutingEvent,
    WithdrawReason,
)
from lgserver.chat.routing import (
    CallState,
    DepartmentSettings,
    OperatorStatus,
    Router,
    RouterConfig,
    RoutingMode,
)

AVAILABLE = OperatorStatus.AVAILABLE
AWAY = OperatorStatus.AWAY
OFFLINE = OperatorStatus.OFFLINE
OFFER = DepartmentSettings(mode=RoutingMode.OFFER, wait_limit=None)
ASSIGN = DepartmentSettings(mode=RoutingMode.ASSIGN, accept_timeout=10, wait_limit=None)


def drain(router: Router) -> list[RoutingEvent]:
    events = []
    while (event := router.next_event()) is not None:
        events.append(event)
    return events


def of_type(events: list[RoutingEvent], kind: type[Any]) -> list[Any]:
    return [e for e in events if isinstance(e, kind)]


def snapshot(router: Router) -> tuple[object, ...]:
    return (
        tuple(router.call(c) for c in router.calls()),
        tuple(router.operator(o) for o in router.operators()),
        tuple(router.queue(d) for d in router.departments()),
        router.next_deadline(),
    )


def refused(
    router: Router, error: type[RoutingError], command: Callable[[], object]
) -> RoutingError:
    """Run a command that must be refused and check it changed nothing."""
    drain(router)
    before = snapshot(router)
    with pytest.raises(error) as info:
        command()
    assert snapshot(router) == before
    assert router.next_event() is None
    return info.value


def make(
    settings: DepartmentSettings = OFFER,
    operators: dict[str, int] | None = None,
    config: RouterConfig | None = None,
) -> Router:
    """A router with department "d" and available operators (id: cap)."""
    router = Router(config)
    router.add_department("d", settings)
    for op, cap in (operators or {}).items():
        router.add_operator(op, 0, departments=["d"], cap=cap, status=AVAILABLE)
    drain(router)
    return router


# -- offer mode


def test_offer_goes_to_every_eligible_operator_only() -> None:
    router = make(OFFER, {"a": 1, "b": 2})
    router.add_department("other")
    router.add_operator("away", 0, departments=["d"], cap=1, status=AWAY)
    router.add_operator("off", 0, departments=["d"], cap=1)
    router.add_operator("outsider", 0, departments=["other"], cap=1, status=AVAILABLE)
    router.add_operator("capless", 0, departments=["d"], cap=0, status=AVAILABLE)
    drain(router)

    router.place_call("c1", "d", 1)
    offers = of_type(drain(router), OfferMade)
    assert sorted(e.operator for e in offers) == ["a", "b"]
    assert set(router.call("c1").offered_to) == {"a", "b"}
    assert router.operator("a").offers == ("c1",)


def test_first_to_accept_wins_and_the_others_see_it_vanish() -> None:
    router = make(OFFER, {"a": 1, "b": 2, "c": 2})
    router.place_call("c1", "d", 1)
    drain(router)

    router.accept("b", "c1", 2)
    events = drain(router)
    assert CallAccepted("b", "c1", "d") in events
    withdrawn = of_type(events, OfferWithdrawn)
    assert {(e.operator, e.reason) for e in withdrawn} == {
        ("a", WithdrawReason.TAKEN),
        ("c", WithdrawReason.TAKEN),
    }
    view = router.call("c1")
    assert view.state is CallState.ACTIVE and view.operator == "b"
    assert router.queue("d") == ()

    error = refused(router, NotOffered, lambda: router.accept("a", "c1", 3))
    assert "accepted already" in str(error)


def test_an_operator_at_cap_loses_their_offers_and_gets_them_back() -> None:
    router = make(OFFER, {"a": 1, "b": 1})
    router.place_call("c1", "d", 1)
    router.place_call("c2", "d", 2)
    drain(router)

    router.accept("a", "c1", 3)
    events = drain(router)
    assert OfferWithdrawn("a", "c2", WithdrawReason.UNAVAILABLE) in events
    assert router.call("c2").offered_to == ("b",)
    refused(router, NotOffered, lambda: router.accept("a", "c2", 4))

    router.end_chat("a", "c1", 5)
    events = drain(router)
    assert of_type(events, CallEnded) == [CallEnded("c1", "d", Outcome.SERVED, "a", 0)]
    assert OfferMade("a", "c2", "d") in events


def test_a_declined_offer_is_not_made_again_to_that_operator() -> None:
    router = make(OFFER, {"a": 1, "b": 1})
    router.place_call("c1", "d", 1)
    drain(router)

    router.decline("a", "c1", 2)
    assert drain(router) == [OfferWithdrawn("a", "c1", WithdrawReason.DECLINED)]
    assert router.call("c1").offered_to == ("b",)
    refused(router, NotOffered, lambda: router.decline("a", "c1", 3))
    refused(router, NotOffered, lambda: router.accept("a", "c1", 3))

    router.set_status("a", AWAY, 4)
    router.set_status("a", AVAILABLE, 5)
    assert of_type(drain(router), OfferMade) == []
    router.accept("b", "c1", 6)
    assert router.call("c1").operator == "b"


def test_an_operator_who_becomes_available_is_offered_the_waiting_calls() -> None:
    router = make(OFFER)
    router.add_operator("a", 0, departments=["d"], cap=1)
    router.place_call("c1", "d", 1)
    router.place_call("c2", "d", 2, priority=3)
    drain(router)

    router.set_status("a", AVAILABLE, 3)
    offers = of_type(drain(router), OfferMade)
    assert [e.call_id for e in offers] == ["c2", "c1"]  # queue order


# -- assign mode


def test_assign_ranks_by_load_then_priority_then_idle_time() -> None:
    router = make(ASSIGN)
    router.add_operator("idle_late", 0, departments=["d"], cap=3)
    router.add_operator("idle_early", 0, departments=["d"], cap=3)
    router.add_operator("senior", 0, departments=["d"], cap=3, priority=5)
    router.set_status("idle_early", AVAILABLE, 1)
    router.set_status("idle_late", AVAILABLE, 2)
    router.set_status("senior", AVAILABLE, 3)
    drain(router)

    router.place_call("c1", "d", 4)
    router.place_call("c2", "d", 5)
    router.place_call("c3", "d", 6)
    router.place_call("c4", "d", 7)
    assigned = [(e.call_id, e.operator) for e in of_type(drain(router), CallAssigned)]
    assert assigned == [
        ("c1", "senior"),  # equal loads: higher priority first
        ("c2", "idle_early"),  # equal loads and priority: idle longest
        ("c3", "idle_late"),
        ("c4", "senior"),  # everyone holds one: priority again
    ]
    assert router.operator("senior").assigned == ("c1", "c4")
    assert router.call("c1").state is CallState.ASSIGNED


def test_longest_idle_counts_from_the_end_of_the_last_chat() -> None:
    router = make(ASSIGN, {"a": 1, "b": 1})
    router.place_call("c1", "d", 1)
    router.place_call("c2", "d", 2)
    router.accept("a", "c1", 3)
    router.accept("b", "c2", 3)
    router.end_chat("b", "c2", 4)
    router.end_chat("a", "c1", 5)
    drain(router)

    router.place_call("c3", "d", 6)
    assert of_type(drain(router), CallAssigned)[0].operator == "b"


def test_an_assigned_call_times_out_to_the_next_operator() -> None:
    router = make(ASSIGN, {"a": 1, "b": 1})
    router.place_call("c1", "d", 1)
    assert of_type(drain(router), CallAssigned) == [CallAssigned("a", "c1", "d", 11)]
    assert router.next_deadline() == 11

    router.handle_timer(10.5)
    assert drain(router) == []
    router.handle_timer(11)
    events = drain(router)
    assert events[0] == OfferWithdrawn("a", "c1", WithdrawReason.TIMED_OUT)
    assert CallAssigned("b", "c1", "d", 21) in events
    refused(router, NotOffered, lambda: router.accept("a", "c1", 12))

    # b lets it time out too: every eligible operator has, so a new round
    router.handle_timer(21)
    events = drain(router)
    assert CallAssigned("a", "c1", "d", 31) in events
    # a lets it go again: the round goes on to b, not back to a
    router.handle_timer(31)
    assert CallAssigned("b", "c1", "d", 41) in drain(router)
    router.accept("b", "c1", 32)
    assert router.call("c1").operator == "b"


def test_a_declined_assignment_goes_to_the_next_operator() -> None:
    router = make(ASSIGN, {"a": 1, "b": 1})
    router.place_call("c1", "d", 1)
    drain(router)
    refused(router, NotOffered, lambda: router.decline("b", "c1", 2))

    router.decline("a", "c1", 2)
    events = drain(router)
    assert events[0] == OfferWithdrawn("a", "c1", WithdrawReason.DECLINED)
    assert of_type(events, CallAssigned) == [CallAssigned("b", "c1", "d", 12)]


def test_the_only_operator_gets_a_call_back_after_letting_it_go() -> None:
    router = make(ASSIGN, {"a": 1})
    router.place_call("c1", "d", 1)
    router.decline("a", "c1", 2)
    events = drain(router)
    assert of_type(events, CallAssigned)[-1] == CallAssigned("a", "c1", "d", 12)


def test_assigned_calls_count_against_the_cap() -> None:
    router = make(ASSIGN, {"a": 2})
    router.place_call("c1", "d", 1)
    router.place_call("c2", "d", 2)
    router.place_call("c3", "d", 3)
    events = drain(router)
    assert [e.call_id for e in of_type(events, CallAssigned)] == ["c1", "c2"]
    assert router.queue("d") == ("c3",)
    assert router.operator("a").load == 2

    router.accept("a", "c1", 4)
    assert router.queue("d") == ("c3",)
    router.end_chat("a", "c1", 5)
    assert of_type(drain(router), CallAssigned)[-1].call_id == "c3"


def test_waiting_calls_across_departments_go_in_queue_order() -> None:
    router = Router()
    router.add_department("x", ASSIGN)
    router.add_department("y", ASSIGN)
    router.place_call("x1", "x", 1)
    router.place_call("y1", "y", 2, priority=1)
    router.place_call("y2", "y", 3)
    router.add_operator("a", 4, departments=["x", "y"], cap=2, status=AVAILABLE)
    assigned = [e.call_id for e in of_type(drain(router), CallAssigned)]
    assert assigned == ["y1", "x1"]


# -- queue order, positions and estimates


def test_queue_orders_by_priority_then_arrival() -> None:
    router = make(OFFER)
    router.place_call("c1", "d", 1)
    router.place_call("c2", "d", 2, priority=2)
    router.place_call("c3", "d", 3)
    router.place_call("c4", "d", 4, priority=2)
    assert router.queue("d") == ("c2", "c4", "c1", "c3")
    assert [router.call(c).position for c in router.queue("d")] == [1, 2, 3, 4]


def test_positions_are_reported_when_they_change() -> None:
    router = make(OFFER)
    router.place_call("c1", "d", 1)
    assert of_type(drain(router), QueuePosition) == [QueuePosition("c1", "d", 1, None)]
    router.place_call("c2", "d", 2)
    # only the new call's position is news
    assert of_type(drain(router), QueuePosition) == [QueuePosition("c2", "d", 2, None)]
    router.place_call("vip", "d", 3, priority=1)
    assert of_type(drain(router), QueuePosition) == [
        QueuePosition("vip", "d", 1, None),
        QueuePosition("c1", "d", 2, None),
        QueuePosition("c2", "d", 3, None),
    ]
    router.customer_left("c1", 4)
    assert of_type(drain(router), QueuePosition) == [QueuePosition("c2", "d", 2, None)]


def test_the_estimate_is_position_times_mean_handle_time_over_slots() -> None:
    config = RouterConfig(default_handle_time=120, handle_time_samples=2)
    router = make(OFFER, {"a": 1, "b": 1}, config)
    router.place_call("c1", "d", 0)
    router.accept("a", "c1", 0)
    router.place_call("c2", "d", 0)
    router.accept("b", "c2", 0)
    for i in range(3):
        router.place_call(f"w{i}", "d", 0)
    # default 120 s, two slots: 60 s a place
    assert [router.call(f"w{i}").estimated_wait for i in range(3)] == [60, 120, 180]
    drain(router)

    # handle times 30 and 90 s: a mean of 60 s, so 30 s a place
    router.end_chat("a", "c1", 30)
    router.accept("a", "w0", 30)
    router.end_chat("b", "c2", 90)
    positions = of_type(drain(router), QueuePosition)
    assert positions[-2:] == [
        QueuePosition("w1", "d", 1, 30),
        QueuePosition("w2", "d", 2, 60),
    ]

    # only the last two samples count: 90 and 150 s, a mean of 120 s
    router.end_chat("a", "w0", 180)
    assert router.call("w1").estimated_wait is not None
    router.accept("a", "w1", 180)
    assert router.call("w2").estimated_wait == 60

    # the slots of an operator who goes away no longer count
    router.set_status("b", AWAY, 181)
    assert router.call("w2").estimated_wait == 120


def test_the_estimate_is_none_without_an_available_operator() -> None:
    router = make(OFFER)
    router.place_call("c1", "d", 1)
    assert router.call("c1").estimated_wait is None
    drain(router)
    router.add_operator("a", 2, departments=["d"], cap=2, status=AVAILABLE)
    assert QueuePosition("c1", "d", 1, 90) in drain(router)


# -- leave a message


def test_an_unstaffed_department_offers_to_leave_a_message() -> None:
    router = make(OFFER)
    router.add_operator("a", 0, departments=["d"], cap=1, status=AWAY)
    router.place_call("c1", "d", 1)
    assert LeaveMessageOffered("c1", "d", LeaveMessageReason.NO_OPERATOR) in drain(
        router
    )
    # the call keeps waiting and is served once someone is available
    router.set_status("a", AVAILABLE, 2)
    router.accept("a", "c1", 3)
    refused(router, LeaveMessageNotOffered, lambda: router.leave_message("c1", 4))


def test_busy_operators_keep_a_department_staffed() -> None:
    router = make(OFFER, {"a": 1})
    router.place_call("c1", "d", 1)
    router.accept("a", "c1", 2)
    router.place_call("c2", "d", 3)
    assert of_type(drain(router), LeaveMessageOffered) == []


def test_waiting_calls_are_offered_when_the_last_operator_leaves() -> None:
    router = make(ASSIGN, {"a": 1})
    router.place_call("c1", "d", 1)
    router.place_call("c2", "d", 2)
    drain(router)
    router.set_status("a", AWAY, 3)
    events = drain(router)
    assert OfferWithdrawn("a", "c1", WithdrawReason.UNAVAILABLE) in events
    offered = of_type(events, LeaveMessageOffered)
    assert sorted(e.call_id for e in offered) == ["c1", "c2"]
    assert router.queue("d") == ("c1", "c2")

    router.leave_message("c2", 4)
    assert drain(router) == [
        CallEnded("c2", "d", Outcome.LEFT_MESSAGE, None, 0),
    ]


def test_a_call_waiting_past_the_limit_is_offered_once() -> None:
    settings = DepartmentSettings(mode=RoutingMode.OFFER, wait_limit=60)
    router = make(settings, {"a": 1})
    router.place_call("c1", "d", 10)
    refused(router, LeaveMessageNotOffered, lambda: router.leave_message("c1", 11))
    assert router.next_deadline() == 70

    router.handle_timer(69.9)
    assert drain(router) == []
    router.handle_timer(70)
    assert drain(router) == [
        LeaveMessageOffered("c1", "d", LeaveMessageReason.WAIT_LIMIT)
    ]
    assert router.next_deadline() is None
    router.handle_timer(1000)
    assert drain(router) == []

    router.leave_message("c1", 1001)
    events = drain(router)
    assert events == [
        OfferWithdrawn("a", "c1", WithdrawReason.CALL_ENDED),
        CallEnded("c1", "d", Outcome.LEFT_MESSAGE, None, 0),
    ]
    refused(router, UnknownCall, lambda: router.leave_message("c1", 1002))


def test_an_assigned_call_still_counts_its_wait() -> None:
    settings = DepartmentSettings(
        mode=RoutingMode.ASSIGN, accept_timeout=100, wait_limit=30
    )
    router = make(settings, {"a": 1})
    router.place_call("c1", "d", 0)
    router.handle_timer(30)
    events = drain(router)
    assert LeaveMessageOffered("c1", "d", LeaveMessageReason.WAIT_LIMIT) in events
    router.leave_message("c1", 31)
    assert drain(router) == [
        OfferWithdrawn("a", "c1", WithdrawReason.CALL_ENDED),
        CallEnded("c1", "d", Outcome.LEFT_MESSAGE, None, 0),
    ]
    assert router.operator("a").load == 0


# -- customers leaving


def test_a_waiting_customer_who_leaves_abandons_the_call() -> None:
    router = make(OFFER, {"a": 1, "b": 1})
    router.place_call("c1", "d", 1)
    drain(router)
    router.customer_left("c1", 2)
    events = drain(router)
    assert events[-1] == CallEnded("c1", "d", Outcome.ABANDONED, None, 0)
    assert len(of_type(events, OfferWithdrawn)) == 2
    assert router.operator("a").offers == ()
    assert router.calls() == ()
    refused(router, UnknownCall, lambda: router.customer_left("c1", 3))


def test_a_customer_who_leaves_an_assigned_call_frees_the_operator() -> None:
    router = make(ASSIGN, {"a": 1})
    router.place_call("c1", "d", 1)
    router.place_call("c2", "d", 2)
    drain(router)
    router.customer_left("c1", 3)
    assert drain(router)[:3] == [
        OfferWithdrawn("a", "c1", WithdrawReason.CALL_ENDED),
        CallEnded("c1", "d", Outcome.ABANDONED, None, 0),
        CallAssigned("a", "c2", "d", 13),
    ]


def test_a_customer_who_leaves_a_chat_ends_it_as_served() -> None:
    router = make(OFFER, {"a": 1})
    router.place_call("c1", "d", 1)
    router.accept("a", "c1", 2)
    drain(router)
    router.customer_left("c1", 3)
    assert drain(router) == [
        CustomerLeft("a", "c1"),
        CallEnded("c1", "d", Outcome.SERVED, "a", 0),
    ]
    assert router.operator("a").chats == ()
    assert router.operator("a").idle_since == 3


# -- transfers


def test_transfer_to_an_operator_hands_the_chat_over() -> None:
    router = make(OFFER, {"a": 1, "b": 1})
    router.place_call("c1", "d", 1)
    router.accept("a", "c1", 2)
    drain(router)
    router.transfer_to_operator("a", "c1", "b", 3, note="billing question")
    assert drain(router) == [
        CallTransferred("c1", "a", "b", "d", "d", "billing question"),
    ]
    view = router.call("c1")
    assert view.operator == "b" and view.transfers == 1
    assert router.operator("a").chats == () and router.operator("b").chats == ("c1",)

    router.end_chat("b", "c1", 4)
    assert drain(router) == [CallEnded("c1", "d", Outcome.SERVED, "b", 1)]


def test_transfer_to_an_operator_who_cannot_take_it_is_refused() -> None:
    router = make(OFFER, {"a": 2, "busy": 1, "away": 1})
    router.add_operator("off", 0, departments=["d"], cap=1)
    router.set_status("away", AWAY, 0)
    router.place_call("c1", "d", 1)
    router.accept("a", "c1", 2)
    router.place_call("c2", "d", 3)
    router.accept("busy", "c2", 3)

    def transfer(target: str, note: str = "") -> Callable[[], None]:
        return lambda: router.transfer_to_operator("a", "c1", target, 4, note=note)

    assert "cap" in str(refused(router, OperatorUnavailable, transfer("busy")))
    assert "away" in str(refused(router, OperatorUnavailable, transfer("away")))
    assert "offline" in str(refused(router, OperatorUnavailable, transfer("off")))
    refused(router, OperatorUnavailable, transfer("a"))
    refused(router, UnknownOperator, transfer("nobody"))
    refused(router, InvalidArgument, transfer("away", "x" * 2001))
    refused(
        router,
        NotYourChat,
        lambda: router.transfer_to_operator("busy", "c1", "a", 4),
    )


def test_transfer_to_a_department_keeps_the_original_arrival() -> None:
    router = make(OFFER, {"a": 1})
    router.add_department("billing", OFFER)
    router.add_operator("b", 0, departments=["billing"], cap=1)
    router.place_call("other", "billing", 1)
    router.place_call("early", "d", 2)
    router.accept("a", "early", 3)
    router.place_call("late", "billing", 4)
    drain(router)

    router.transfer_to_department("a", "early", "billing", 5, note="invoice")
    events = drain(router)
    assert events[0] == CallTransferred("early", "a", None, "d", "billing", "invoice")
    assert router.queue("billing") == ("other", "early", "late")
    view = router.call("early")
    assert view.state is CallState.WAITING and view.department == "billing"
    assert not view.requeued

    router.set_status("b", AVAILABLE, 6)
    router.accept("b", "early", 7)
    router.end_chat("b", "early", 8)
    assert of_type(drain(router), CallEnded)[0] == CallEnded(
        "early", "billing", Outcome.SERVED, "b", 1
    )


def test_a_chat_sent_back_to_its_department_skips_its_sender() -> None:
    router = make(OFFER, {"a": 2, "b": 1})
    router.place_call("c1", "d", 1)
    router.accept("a", "c1", 2)
    drain(router)
    router.transfer_to_department("a", "c1", "d", 3)
    offers = of_type(drain(router), OfferMade)
    assert [e.operator for e in offers] == ["b"]
    refused(router, NotOffered, lambda: router.accept("a", "c1", 4))


def test_transfer_refusals() -> None:
    router = make(OFFER, {"a": 1}, RouterConfig(max_queue=1))
    router.add_department("full", OFFER)
    router.place_call("c1", "d", 1)
    router.accept("a", "c1", 2)
    router.place_call("f1", "full", 3)
    refused(
        router,
        QueueFull,
        lambda: router.transfer_to_department("a", "c1", "full", 4),
    )
    refused(
        router,
        UnknownDepartment,
        lambda: router.transfer_to_department("a", "c1", "nowhere", 4),
    )
    refused(
        router, NotYourChat, lambda: router.transfer_to_department("a", "f1", "d", 4)
    )
    refused(router, NotYourChat, lambda: router.end_chat("a", "f1", 4))


# -- lost operators


def test_a_lost_operators_chats_go_to_the_head_of_the_queue() -> None:
    router = make(OFFER, {"a": 2, "b": 1})
    router.place_call("c1", "d", 1)
    router.place_call("c2", "d", 2)
    router.accept("a", "c1", 3)
    router.accept("a", "c2", 3)
    router.place_call("w1", "d", 4)
    router.place_call("vip", "d", 5, priority=1)
    router.accept("b", "w1", 6)
    router.place_call("w2", "d", 7)
    drain(router)

    router.operator_lost("a", 8)
    events = drain(router)
    assert [e for e in events if isinstance(e, ChatRequeued)] == [
        ChatRequeued("c1", "d", "a", RequeueReason.OPERATOR_LOST),
        ChatRequeued("c2", "d", "a", RequeueReason.OPERATOR_LOST),
    ]
    assert all(getattr(e, "operator", None) != "a" for e in events[2:])
    assert all(not isinstance(e, OfferWithdrawn) for e in events)
    # ahead of w2, which never was served, but behind a higher priority
    assert router.queue("d") == ("vip", "c1", "c2", "w2")
    assert router.call("c1").requeued and not router.call("w2").requeued
    assert router.operator("a").status is OFFLINE
    assert router.operator("a").chats == ()
    # nobody else is available with room: the customers may leave a message
    assert {e.call_id for e in of_type(events, LeaveMessageOffered)} == set()
    router.end_chat("b", "w1", 9)
    router.accept("b", "vip", 10)


def test_a_lost_operator_releases_offers_and_assignments_silently() -> None:
    router = make(ASSIGN, {"a": 1, "b": 1})
    router.place_call("c1", "d", 1)
    drain(router)
    router.operator_lost("a", 2)
    assert drain(router) == [CallAssigned("b", "c1", "d", 12)]
    router.operator_lost("a", 3)  # already offline: nothing to do
    assert drain(router) == []
    refused(router, UnknownOperator, lambda: router.operator_lost("z", 4))


def test_losing_the_last_operator_offers_to_leave_a_message() -> None:
    router = make(OFFER, {"a": 1})
    router.place_call("c1", "d", 1)
    router.accept("a", "c1", 2)
    drain(router)
    router.operator_lost("a", 3)
    events = drain(router)
    assert events[:2] == [
        ChatRequeued("c1", "d", "a", RequeueReason.OPERATOR_LOST),
        LeaveMessageOffered("c1", "d", LeaveMessageReason.NO_OPERATOR),
    ]
    router.leave_message("c1", 4)
    assert drain(router) == [CallEnded("c1", "d", Outcome.LEFT_MESSAGE, None, 0)]


# -- inactivity


def test_silent_chats_close_and_activity_postpones_it() -> None:
    settings = DepartmentSettings(inactivity_timeout=100, wait_limit=None)
    router = make(settings, {"a": 1})
    router.place_call("c1", "d", 0)
    router.accept("a", "c1", 10)
    drain(router)
    assert router.next_deadline() == 110
    router.activity("c1", 50)
    assert router.next_deadline() == 150
    router.handle_timer(110)
    assert drain(router) == []
    assert router.call("c1").state is CallState.ACTIVE

    router.handle_timer(150)
    assert drain(router) == [CallEnded("c1", "d", Outcome.INACTIVE, "a", 0)]
    assert router.operator("a").chats == ()
    assert router.next_deadline() is None


def test_timers_fire_in_order_in_one_late_call() -> None:
    settings = DepartmentSettings(
        mode=RoutingMode.ASSIGN, accept_timeout=5, wait_limit=7
    )
    router = make(settings, {"a": 1})
    router.place_call("c1", "d", 0)
    drain(router)
    router.handle_timer(100)
    events = drain(router)
    assert events[0] == OfferWithdrawn("a", "c1", WithdrawReason.TIMED_OUT)
    assert events[1] == CallAssigned("a", "c1", "d", 105)
    assert events[2] == LeaveMessageOffered("c1", "d", LeaveMessageReason.WAIT_LIMIT)
    assert router.next_deadline() == 105


def test_activity_on_a_waiting_call_changes_nothing() -> None:
    router = make(OFFER)
    router.place_call("c1", "d", 0)
    before = snapshot(router)
    router.activity("c1", 5)
    assert snapshot(router) == before


# -- status and cap changes


def test_going_away_keeps_chats_and_withdraws_assignments() -> None:
    router = make(ASSIGN, {"a": 2, "b": 1})
    router.place_call("c1", "d", 1)
    router.accept("a", "c1", 2)
    router.place_call("c2", "d", 3)  # to b, who has fewer chats
    router.place_call("c3", "d", 4)  # to a
    drain(router)
    assert router.operator("a").assigned == ("c3",)

    router.set_status("a", AWAY, 5)
    events = drain(router)
    assert events[0] == OfferWithdrawn("a", "c3", WithdrawReason.UNAVAILABLE)
    assert router.operator("a").chats == ("c1",)
    assert router.call("c3").state is CallState.WAITING
    router.end_chat("a", "c1", 6)  # an away operator may still end chats
    assert router.call("c3").state is CallState.WAITING


def test_going_offline_with_chats_is_refused() -> None:
    router = make(OFFER, {"a": 1})
    router.place_call("c1", "d", 1)
    router.accept("a", "c1", 2)
    error = refused(router, OperatorBusy, lambda: router.set_status("a", OFFLINE, 3))
    assert "end or transfer" in str(error)
    router.end_chat("a", "c1", 3)
    router.set_status("a", OFFLINE, 4)
    assert router.operator("a").status is OFFLINE


def test_raising_the_cap_routes_waiting_calls() -> None:
    router = make(ASSIGN, {"a": 1})
    router.place_call("c1", "d", 1)
    router.place_call("c2", "d", 2)
    drain(router)
    router.update_operator("a", 3, cap=2)
    assert of_type(drain(router), CallAssigned) == [CallAssigned("a", "c2", "d", 13)]


def test_lowering_the_cap_releases_the_latest_assignments() -> None:
    router = make(ASSIGN, {"a": 3})
    for i in range(3):
        router.place_call(f"c{i}", "d", 1)
    router.accept("a", "c0", 2)
    drain(router)
    refused(router, OperatorBusy, lambda: router.update_operator("a", 3, cap=0))
    router.update_operator("a", 3, cap=1)
    events = drain(router)
    assert {e.call_id for e in of_type(events, OfferWithdrawn)} == {"c1", "c2"}
    assert router.queue("d") == ("c1", "c2")
    assert router.operator("a").load == 1


def test_a_gradual_cap_goes_down_as_chats_end() -> None:
    router = make(OFFER, {"a": 3})
    for i in range(4):
        router.place_call(f"c{i}", "d", 1)
    for i in range(3):
        router.accept("a", f"c{i}", 2)
    drain(router)
    refused(router, OperatorBusy, lambda: router.update_operator("a", 3, cap=1))
    router.update_operator("a", 3, cap=1, gradual=True)
    assert router.operator("a").cap == 3
    # a chat ends: the slot it frees goes, and c3 is not offered
    router.end_chat("a", "c0", 4)
    assert router.operator("a").cap == 2
    assert of_type(drain(router), OfferMade) == []
    router.transfer_to_department("a", "c1", "d", 5)
    assert router.operator("a").cap == 1
    assert of_type(drain(router), OfferMade) == []
    router.end_chat("a", "c2", 6)
    assert router.operator("a").cap == 1
    assert OfferMade("a", "c3", "d") in drain(router)
    # a cap given later replaces one still being reached
    router.accept("a", "c3", 7)
    router.update_operator("a", 8, cap=0, gradual=True)
    router.update_operator("a", 8, cap=2)
    router.end_chat("a", "c3", 9)
    assert router.operator("a").cap == 2


def test_changing_departments_withdraws_and_offers() -> None:
    router = make(OFFER, {"a": 1})
    router.add_department("e", OFFER)
    router.place_call("c1", "d", 1)
    router.place_call("c2", "e", 2)
    drain(router)
    router.update_operator("a", 3, departments=["e"], priority=4)
    events = drain(router)
    assert OfferWithdrawn("a", "c1", WithdrawReason.UNAVAILABLE) in events
    assert OfferMade("a", "c2", "e") in events
    view = router.operator("a")
    assert view.departments == ("e",) and view.priority == 4
    # "d" lost its only operator
    assert LeaveMessageOffered("c1", "d", LeaveMessageReason.NO_OPERATOR) in events


def test_a_department_switched_to_assign_takes_back_its_offers() -> None:
    router = make(OFFER, {"a": 1, "b": 1})
    router.place_call("c1", "d", 1)
    router.place_call("c2", "d", 2)
    router.place_call("c3", "d", 3)
    drain(router)
    router.update_department("d", ASSIGN, 4)
    events = drain(router)
    withdrawn = of_type(events, OfferWithdrawn)
    assert {(e.operator, e.call_id) for e in withdrawn} == {
        (op, c) for op in "ab" for c in ("c1", "c2", "c3")
    }
    assert {e.reason for e in withdrawn} == {WithdrawReason.REROUTED}
    assigned = of_type(events, CallAssigned)
    assert [(e.call_id, e.deadline) for e in assigned] == [("c1", 14), ("c2", 14)]
    assert router.queue("d") == ("c3",)
    assert router.call("c3").offered_to == ()


def test_a_department_switched_to_offer_offers_its_assigned_calls() -> None:
    router = make(ASSIGN, {"a": 1, "b": 2})
    router.place_call("c1", "d", 1)
    router.place_call("c2", "d", 2)
    router.accept("b", "c2", 3)
    drain(router)
    assert router.call("c1").state is CallState.ASSIGNED
    router.update_department("d", OFFER, 4)
    events = drain(router)
    assert OfferWithdrawn("a", "c1", WithdrawReason.REROUTED) in events
    assert sorted(e.operator for e in of_type(events, OfferMade)) == ["a", "b"]
    assert router.queue("d") == ("c1",)
    # the chat held stays where it was
    assert router.call("c2").state is CallState.ACTIVE
    assert router.operator("b").chats == ("c2",)
    router.accept("a", "c1", 5)
    assert router.call("c1").operator == "a"


def test_a_shorter_wait_limit_acts_on_the_calls_waiting() -> None:
    router = make(OFFER, {"a": 1})
    router.place_call("c1", "d", 1)
    router.place_call("c2", "d", 8)
    drain(router)
    limited = DepartmentSettings(mode=RoutingMode.OFFER, wait_limit=5)
    router.update_department("d", limited, 10)
    events = drain(router)
    assert of_type(events, LeaveMessageOffered) == [
        LeaveMessageOffered("c1", "d", LeaveMessageReason.WAIT_LIMIT)
    ]
    assert router.next_deadline() == 13
    assert router.department_settings("d") == limited
    refused(router, UnknownDepartment, lambda: router.update_department("x", OFFER, 11))
    refused(router, ClockWentBack, lambda: router.update_department("d", OFFER, 1))


# -- refused commands


def test_unknown_and_duplicate_names_are_refused() -> None:
    router = make(OFFER, {"a": 1})
    router.place_call("c1", "d", 1)
    refused(router, DuplicateDepartment, lambda: router.add_department("d"))
    refused(
        router,
        DuplicateOperator,
        lambda: router.add_operator("a", 2, departments=["d"], cap=1),
    )
    refused(router, DuplicateCall, lambda: router.place_call("c1", "d", 2))
    refused(router, UnknownDepartment, lambda: router.place_call("c2", "x", 2))
    refused(
        router,
        UnknownDepartment,
        lambda: router.add_operator("b", 2, departments=["d", "x"], cap=1),
    )
    refused(router, UnknownOperator, lambda: router.accept("z", "c1", 2))
    refused(router, UnknownOperator, lambda: router.set_status("z", AWAY, 2))
    refused(router, UnknownCall, lambda: router.accept("a", "c9", 2))
    refused(router, UnknownCall, lambda: router.activity("c9", 2))
    refused(router, UnknownDepartment, lambda: router.queue("x"))
    refused(router, NotYourChat, lambda: router.end_chat("a", "c1", 2))


def test_bad_arguments_are_refused() -> None:
    router = make(OFFER, {"a": 1})
    refused(
        router,
        InvalidArgument,
        lambda: router.add_operator("b", 1, departments=["d"], cap=-1),
    )
    refused(
        router,
        InvalidArgument,
        lambda: router.add_operator("b", 1, departments="d", cap=1),
    )
    refused(router, InvalidArgument, lambda: router.update_operator("a", 1, cap=-2))
    refused(
        router,
        InvalidArgument,
        lambda: router.set_status("a", "dancing", 1),  # type: ignore[arg-type]
    )
    with pytest.raises(InvalidArgument):
        DepartmentSettings(accept_timeout=0)
    with pytest.raises(InvalidArgument):
        DepartmentSettings(wait_limit=float("nan"))
    with pytest.raises(InvalidArgument):
        DepartmentSettings(mode="round-robin")  # type: ignore[arg-type]
    with pytest.raises(InvalidArgument):
        RouterConfig(max_queue=0)
    assert DepartmentSettings(mode="assign").mode is RoutingMode.ASSIGN  # type: ignore[arg-type]


def test_time_may_not_go_back() -> None:
    router = make(OFFER, {"a": 1})
    router.place_call("c1", "d", 10)
    refused(router, ClockWentBack, lambda: router.place_call("c2", "d", 9))
    refused(router, ClockWentBack, lambda: router.handle_timer(float("nan")))
    refused(router, ClockWentBack, lambda: router.accept("a", "c1", 5))


def test_a_full_queue_refuses_new_calls() -> None:
    router = make(OFFER, config=RouterConfig(max_queue=2))
    router.place_call("c1", "d", 1)
    router.place_call("c2", "d", 2)
    refused(router, QueueFull, lambda: router.place_call("c3", "d", 3))
    router.customer_left("c1", 4)
    router.place_call("c3", "d", 5)


def test_errors_carry_a_code() -> None:
    router = make(OFFER)
    with pytest.raises(RoutingError) as info:
        router.accept("z", "c", 0)
    assert info.value.code == "unknown_operator"


# -- scale


def test_a_long_queue_is_served_in_order() -> None:
    router = make(ASSIGN)
    for i in range(1000):
        router.place_call(f"c{i}", "d", i, priority=i % 3)
    assert len(router.queue("d")) == 1000
    drain(router)
    for i in range(50):
        router.add_operator(f"op{i}", 1000, departments=["d"], cap=2, status=AVAILABLE)
    served: list[str] = []
    now = 1000.0
    while router.calls():
        for event in drain(router):
            if isinstance(event, CallAssigned):
                served.append(event.call_id)
                router.accept(event.operator, event.call_id, now)
                router.end_chat(event.operator, event.call_id, now)
        now += 1
    expected = sorted(range(1000), key=lambda i: (-(i % 3), i))
    assert served == [f"c{i}" for i in expected]
