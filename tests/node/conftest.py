"""Fixtures of the node's component tests."""

from __future__ import annotations

import pytest

from chain.node.chain_state import ChainState
from chain.node.storage_setup import open_chain_database
from runtime.chain_spec import load_chain_spec


@pytest.fixture
def chain(tmp_path):
    """A dev chain's state at genesis, in a database of its own."""
    spec = load_chain_spec("dev")
    store = open_chain_database(tmp_path / "db", spec, 256)
    yield ChainState(store, spec.runtime())
    store.close()
