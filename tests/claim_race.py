"""A competing worker for test_worker's claim race: a module with light imports, since each
spawned process imports it afresh."""

from __future__ import annotations

from threading import BrokenBarrierError
from typing import Any

from store import runs
from store.session import get_sessionmaker


def claim_after_barrier(
    database_url: str, barrier: Any, results: Any, rounds: int, name: str
) -> None:
    """Claim at the same moment as the other processes, `rounds` times."""
    sessions = get_sessionmaker(database_url)
    try:
        for _ in range(rounds):
            barrier.wait()
            with sessions() as session:
                results.put(runs.claim_next(session, 30, name))
            barrier.wait()  # the test frees the slot for the next round
    except BrokenBarrierError:  # the test failed and gave up on this round
        return
