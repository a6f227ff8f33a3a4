import gc
import weakref
from collections.abc import Iterator

import pytest

from lgserver import collector


@pytest.fixture
def restored() -> Iterator[None]:
    thresholds = gc.get_threshold()
    try:
        yield
    finally:
        gc.set_threshold(*thresholds)
        gc.unfreeze()


class Node:
    def __init__(self) -> None:
        self.other: Node | None = None


@pytest.mark.usefixtures("restored")
def test_tune_makes_young_collections_rarer() -> None:
    before = gc.get_threshold()
    collector.tune()
    assert gc.get_threshold() == collector.THRESHOLDS
    assert collector.THRESHOLDS[0] > before[0]


@pytest.mark.usefixtures("restored")
def test_freeze_keeps_the_living_and_frees_the_garbage() -> None:
    kept = [Node() for _ in range(10)]
    freed = Node()
    freed.other = Node()
    freed.other.other = freed  # a cycle that only the collector frees
    gone = weakref.ref(freed)
    del freed
    collector.freeze()
    assert gone() is None
    assert gc.get_freeze_count() >= len(kept)
    # what comes after the freeze is collected as before
    late = Node()
    late.other = late
    del late
    assert gc.collect() >= 1
