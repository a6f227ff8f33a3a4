"""How the daemon sets Python's cyclic garbage collector.

A chat server allocates a few short-lived objects for every frame, and
almost none of them ever form a cycle: reference counting frees them.
With the interpreter's defaults the collector still runs a young
collection every 700 container allocations, and now and then a full one
that walks every object the process holds (the configuration, the
routing tables, the geolocation database). Under load those full walks
take tens of milliseconds, a stall every connection feels at once.

:func:`tune` makes young collections rarer, so each costs little more and
there are a tenth as many of them; :func:`freeze` moves what exists after
start-up out of the collector's sight, so that full collections walk only
what was made since. Cycles are still found and freed, later.
"""

from __future__ import annotations

import gc

__all__ = ["THRESHOLDS", "freeze", "tune"]

#: Allocations before a young collection, then young collections before a
#: middle one, then middle ones before a full one is considered.
THRESHOLDS = (10_000, 20, 20)


def tune() -> None:
    """Collect less often than the interpreter's defaults."""
    gc.set_threshold(*THRESHOLDS)


def freeze() -> None:
    """Free what is garbage now, then exempt everything left from later
    collections (it lives as long as the process)."""
    gc.collect()
    gc.freeze()
