"""Values remembered for a short time: never answered past their lifetime, read again by one
caller shortly before it ends, and not all due at once when they were read together."""

from __future__ import annotations

import pytest

from creditbook.engine.remembered import REFRESH_FROM, REFRESH_TO, Remembered

TTL_S = 10.0
STEPS = 1000  # of a lifetime, when watching values fall due


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def remembered(clock: Clock, draw: float = 0.0) -> Remembered[str, int]:
    return Remembered(TTL_S, clock=clock, draw=lambda: draw)


def test_a_value_is_answered_until_it_falls_due() -> None:
    clock = Clock()
    values = remembered(clock)
    values.put("a", 1, read_at=clock.now)
    clock.now += TTL_S * REFRESH_FROM - 0.001
    assert (values.answer("a"), values.take("a")) == ((1, False), 1)
    assert values.answer("b") == (None, False) and values.take("b") is None  # never read


def test_one_caller_reads_a_due_value_again_in_the_background() -> None:
    clock = Clock()
    values = remembered(clock)
    values.put("a", 1, read_at=clock.now)
    clock.now += TTL_S * REFRESH_FROM
    assert values.answer("a") == (1, True)  # answered, and chosen to read it again
    assert [values.answer("a"), values.take("a")] == [(1, False), 1]  # the others
    values.put("a", 2, read_at=clock.now)
    clock.now += TTL_S * REFRESH_FROM - 0.001
    assert values.answer("a") == (2, False)  # fresh again


def test_one_caller_reads_a_due_value_again_while_the_others_are_answered() -> None:
    clock = Clock()
    values = remembered(clock)
    values.put("a", 1, read_at=clock.now)
    clock.now += TTL_S * REFRESH_FROM
    assert values.take("a") is None  # this caller reads it now
    assert [values.take("a"), values.answer("a")] == [1, (1, False)]  # the others


def test_a_value_is_never_answered_past_its_lifetime() -> None:
    clock = Clock()
    values = remembered(clock)
    read_at = clock.now
    values.put("a", 1, read_at=read_at)
    clock.now = read_at + TTL_S * REFRESH_FROM
    assert values.answer("a") == (1, True)  # chosen; this caller never puts it back
    clock.now = read_at + TTL_S - 0.001
    assert values.answer("a") == (1, False)
    clock.now = read_at + TTL_S
    assert values.answer("a") == (None, False) and values.take("a") is None  # expired
    values.put("a", 2, read_at=clock.now)
    values.forget("a")
    assert values.answer("a") == (None, False)


def test_a_read_that_began_before_the_key_was_forgotten_is_not_remembered() -> None:
    """A key revoked through this process is forgotten at once; a lookup that began before
    (a background refresh) must not bring it back for the rest of its lifetime."""
    clock = Clock()
    values = remembered(clock)
    began = clock.now
    clock.now += 0.5
    values.forget("a")  # revoked while the read was under way
    values.put("a", 1, read_at=began)
    assert values.answer("a") == (None, False)
    values.put("a", 2, read_at=clock.now + 0.001)  # a read that began afterwards
    assert values.answer("a") == (2, False)


def test_a_value_refused_by_the_caller_is_neither_answered_nor_claimed() -> None:
    """The key cache refuses an entry whose token digest differs: a forged token for a
    known key id must not take over the key's next lookup."""
    clock = Clock()
    values = remembered(clock)
    values.put("a", 1, read_at=clock.now)
    clock.now += TTL_S * REFRESH_FROM
    assert values.answer("a", lambda value: value == 2) == (None, False)
    assert values.take("a", lambda value: value == 2) is None
    assert values.answer("a") == (1, True)  # still unclaimed for the right caller


def test_values_read_together_fall_due_apart() -> None:
    """The point: keys a process read in the same second would otherwise all be read
    again in the same instant, sending every request in flight to the database."""
    clock = Clock()
    values: Remembered[int, int] = Remembered(TTL_S, clock=clock)
    for key in range(200):
        values.put(key, key, read_at=clock.now)
    start, step = clock.now, 0
    due_after: dict[int, float] = {}  # found due after this part of the lifetime
    while len(due_after) < 200:
        step += 1
        clock.now = start + step * TTL_S / STEPS
        for key in range(200):
            if key not in due_after and values.take(key) is None:
                due_after[key] = step / STEPS
    assert min(due_after.values()) >= REFRESH_FROM
    assert max(due_after.values()) <= REFRESH_TO + 1 / STEPS  # found at the step after
    # Spread over the window: no tenth of it holds more than a third of the keys.
    width = (REFRESH_TO - REFRESH_FROM) / 10
    tenths = [int((share - REFRESH_FROM) / width) for share in due_after.values()]
    assert max(tenths.count(tenth) for tenth in set(tenths)) < 200 / 3


def test_a_lifetime_of_zero_remembers_nothing() -> None:
    values: Remembered[str, int] = Remembered(0.0)
    values.put("a", 1, read_at=values.now())
    assert values.answer("a") == (None, False) and values.take("a") is None
    with pytest.raises(ValueError, match="must not be negative"):
        Remembered(-1.0)
