"""The runtime's pallets and their indices, in one place (Substrate's `construct_runtime!`).

Indices are part of the chain's format (they are the first byte of every call and event) and never change.
Where Substrate's chains agree on an index, we take it: Session is 9 and Utility 26, as in Polkadot.
"""

from __future__ import annotations

import compute_market.pallet
from runtime.frame.pallet import RUNTIME_CALL, Pallet, compose, event_record_type, runtime_event_type
from runtime.frame.types import Vec
from runtime.pallets import balances, session, staking, sudo, system, timestamp, transaction_payment, utility

PALLETS: list[tuple[int, Pallet]] = [
    (0, system.PALLET),
    (1, timestamp.PALLET),
    (2, balances.PALLET),
    (3, transaction_payment.PALLET),
    (4, staking.PALLET),
    (5, sudo.PALLET),
    (6, compute_market.pallet.PALLET),
    (9, session.PALLET),  # after Staking: its on_initialize copies the set Staking's may just have changed
    (26, utility.PALLET),
]


def _compose() -> tuple[list[Pallet], object, object]:
    pallets = compose(PALLETS)  # refuses a duplicate pallet index or name
    RUNTIME_CALL.pallets = {p.index: p for p in pallets if p.calls}
    runtime_event = runtime_event_type(pallets)
    record = event_record_type(runtime_event)
    return pallets, runtime_event, record


ALL_PALLETS, RUNTIME_EVENT, EVENT_RECORD = _compose()
EVENTS = system.events_item(Vec(EVENT_RECORD))
BY_NAME = {p.name: p for p in ALL_PALLETS}
