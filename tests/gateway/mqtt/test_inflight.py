"""The sender's bookkeeping: confirmations, batched deletions, rewinding after a lost link."""

from __future__ import annotations

from gateway.mqtt.inflight import InFlight


def hand_over(flight: InFlight, seqs: list[int], first_mid: int) -> list[int]:
    """Hand `seqs` over as the sender does; returns the mids of those sent."""
    mids = []
    for seq in seqs:
        if flight.wanted(seq):
            mid = first_mid + len(mids)
            flight.sent(mid, seq)
            mids.append(mid)
    return mids


def test_confirmed_messages_are_deleted_in_one_batch() -> None:
    flight = InFlight()
    mids = hand_over(flight, [1, 2, 3], first_mid=10)

    assert flight.confirmed(mids[0])
    assert flight.confirmed(mids[2])
    assert not flight.confirmed(999)  # not ours: the status message
    assert len(flight) == 1
    assert flight.take_deletions() == [1, 3]
    assert flight.take_deletions() == []
    assert flight.cursor == 3


def test_lost_link_rewinds_to_the_oldest_unconfirmed_and_skips_confirmed() -> None:
    flight = InFlight()
    mids = hand_over(flight, [5, 6, 7, 8], first_mid=1)
    flight.confirmed(mids[0])  # 5
    flight.confirmed(mids[2])  # 7: confirmed out of order, its deletion still pending

    assert flight.lost() == 2
    assert len(flight) == 0
    assert flight.cursor == 5  # the next read starts after 5, at 6

    # The outbox returns 6, 7, 8 again (7 is not deleted yet): 7 is skipped.
    assert hand_over(flight, [6, 7, 8, 9], first_mid=100) == [100, 101, 102]
    assert flight.cursor == 9
    assert not flight.wanted(7)

    flight.deleted(flight.take_deletions())
    assert flight.wanted(7)  # deleted: the outbox will never return it again


def test_lost_link_with_nothing_unconfirmed_keeps_the_cursor() -> None:
    flight = InFlight()
    (mid,) = hand_over(flight, [3], first_mid=1)
    flight.confirmed(mid)

    assert flight.lost() == 0
    assert flight.cursor == 3
