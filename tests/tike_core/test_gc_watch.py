"""GcWatch: times collections, freezes the survivors of full ones, and puts them back."""

from __future__ import annotations

import gc
import weakref
from collections.abc import Callable, Iterator

import pytest

from tike_core.gc_watch import GcWatch


@pytest.fixture
def clean_gc() -> Iterator[None]:
    gc.unfreeze()
    yield
    gc.unfreeze()


def test_every_collection_is_observed_with_its_generation(clean_gc: None) -> None:
    seen: list[tuple[int, float]] = []
    watch = GcWatch(lambda gen, s: seen.append((gen, s))).install()
    try:
        gc.collect(0)
        gc.collect(2)
    finally:
        watch.uninstall()
    gens = [gen for gen, _ in seen]
    assert 0 in gens and 2 in gens
    assert all(s >= 0 for _, s in seen)
    assert gc.get_freeze_count() == 0  # freeze is off by default


def test_a_full_collection_freezes_its_survivors(clean_gc: None) -> None:
    survivors = [[i] for i in range(1000)]  # tracked containers
    watch = GcWatch(lambda gen, s: None, freeze=True).install()
    try:
        gc.collect(2)
        assert gc.get_freeze_count() >= len(survivors)
        assert watch.full_collections == 1
    finally:
        watch.uninstall()
    assert gc.get_freeze_count() == 0  # uninstall puts them back


def test_frozen_garbage_is_freed_after_the_unfreeze(clean_gc: None) -> None:
    """Cyclic garbage frozen with the survivors is collected once they are put back."""

    class Node:
        other: Node

    a, b = Node(), Node()
    a.other, b.other = b, a
    ref = weakref.ref(a)
    watch = GcWatch(lambda gen, s: None, freeze=True, unfreeze_every=2).install()
    try:
        gc.collect(2)  # the live cycle survives and is frozen (1)
        del a, b  # garbage now, but frozen
        gc.collect(2)  # not walked, so not freed; frozen again (2)
        assert ref() is not None
        gc.collect(2)  # not freed; the second freeze since the last unfreeze: put back
        assert ref() is not None
        assert gc.get_freeze_count() == 0
        gc.collect(2)  # walked again, and freed
        assert ref() is None
    finally:
        watch.uninstall()


def test_freezing_waits_for_the_callers_loop_when_given_one(clean_gc: None) -> None:
    queued: list[Callable[[], None]] = []
    watch = GcWatch(lambda gen, s: None, freeze=True, call_soon=queued.append).install()
    try:
        gc.collect(2)
        assert gc.get_freeze_count() == 0 and len(queued) == 1
        queued[0]()
        assert gc.get_freeze_count() > 0
    finally:
        watch.uninstall()


def test_unfreeze_every_must_be_positive() -> None:
    with pytest.raises(ValueError):
        GcWatch(lambda gen, s: None, unfreeze_every=0)
