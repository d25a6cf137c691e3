"""Account reads of the APIs go through the runtime's own `System.Account` item (key, codec, default), and a
stored account that does not decode is an error, never an empty account: `CorruptAccount` in the API
helpers, DATA_LOSS naming the account over gRPC.

The chains here are the dev chain's genesis in a database of its own; the corrupt ones are the same genesis
with garbage bytes stored under one funded account's key, so the node's real state backend holds them.
"""

from __future__ import annotations

import asyncio
import dataclasses

import grpc
import pytest

from chain.api.convert import CorruptAccount, read_account
from chain.api.grpc_api import ChainService
from chain.api.safe_handlers import add_servicer
from chain.node.chain_state import ChainState
from chain.node.service import Node
from chain.node.storage_setup import open_chain_database
from chain.primitives.crypto import dev_keypair, encode_address
from chain.storage.overlay import MemoryBackend, Overlay
from proto import chain_pb2, chain_pb2_grpc
from runtime.chain_spec import load_chain_spec
from runtime.frame.storage import externalities
from runtime.pallets.system import ACCOUNT_INFO, Account, AccountInfo

ALICE, BOB = dev_keypair("Alice"), dev_keypair("Bob")
NOBODY = bytes(range(32))
GARBAGE = [b"\xde\xad\xbe\xef", b"\x00" * 79, b"\x01" * 81]


class EmptyPool:
    def provides(self, tag: bytes) -> bool:
        return False


class ApiNode:
    """The part of a Node that GetAccount touches: the real ChainState, Node's own `next_index`."""

    next_index = Node.next_index

    def __init__(self, chain: ChainState):
        self.chain = chain
        self.pool = EmptyPool()


@pytest.fixture
def open_chain(tmp_path):
    """Open a dev chain at genesis whose genesis storage has `overrides` written over it."""
    stores = []

    def make(overrides: dict[bytes, bytes] | None = None) -> ChainState:
        spec = load_chain_spec("dev")
        if overrides:
            spec = dataclasses.replace(spec, genesis_storage={**spec.genesis_storage, **overrides})
        store = open_chain_database(tmp_path / f"db{len(stores)}", spec, 256)
        stores.append(store)
        return ChainState(store, spec.runtime())

    yield make
    for store in stores:
        store.close()


def runtime_account(state, who: bytes) -> AccountInfo:
    with externalities(state):
        return Account.get(who)


def get_account(chain: ChainState, who: bytes):
    """GetAccount of `who` against a ChainService over `chain`, served in-process on a loopback port:
    the Account message, or the grpc.aio.AioRpcError the call ended with."""

    async def main():
        server = grpc.aio.server()
        add_servicer(
            server, chain_pb2.DESCRIPTOR.services_by_name["ChainService"], ChainService(ApiNode(chain))
        )
        port = server.add_insecure_port("127.0.0.1:0")
        await server.start()
        try:
            async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
                stub = chain_pb2_grpc.ChainServiceStub(channel)
                try:
                    return await stub.GetAccount(
                        chain_pb2.AccountRequest(address="0x" + who.hex()), timeout=20
                    )
                except grpc.aio.AioRpcError as e:
                    return e
        finally:
            await server.stop(None)

    return asyncio.run(main())


# --- valid data: the API read is the runtime's decode -------------------------------------------------------


def test_read_account_of_a_funded_account_is_what_system_account_decodes(open_chain):
    chain = open_chain()
    state = chain.state_at()
    raw = state.get(Account.key(ALICE.public))
    assert raw is not None
    expected = Account.value.decode_bytes(raw)
    info = read_account(state, ALICE.public)
    assert info == expected == runtime_account(state, ALICE.public)
    assert ACCOUNT_INFO.encode(info) == raw and info.free > 0 and info.providers > 0


def test_read_account_of_an_absent_account_is_the_items_default_and_a_fresh_copy(open_chain):
    state = open_chain().state_at()
    assert state.get(Account.key(NOBODY)) is None
    info = read_account(state, NOBODY)
    assert info == Account.default == AccountInfo()
    info.free = 5
    assert Account.default.free == 0 and read_account(state, NOBODY).free == 0


def test_get_account_over_grpc_answers_the_runtimes_account(open_chain):
    chain = open_chain()
    expected = runtime_account(chain.state_at(), ALICE.public)
    answer = get_account(chain, ALICE.public)
    assert not isinstance(answer, grpc.aio.AioRpcError), answer
    assert bytes(answer.account_id) == ALICE.public
    assert answer.address == encode_address(ALICE.public)
    assert (answer.nonce, answer.free, answer.reserved, answer.frozen) == (
        expected.nonce,
        str(expected.free),
        str(expected.reserved),
        str(expected.frozen),
    )
    assert answer.next_index == expected.nonce
    absent = get_account(chain, NOBODY)
    assert (absent.nonce, absent.free, absent.reserved, absent.frozen) == (0, "0", "0", "0")


# --- corrupt data: a typed error, DATA_LOSS over gRPC, never a zero balance --------------------------------


@pytest.mark.parametrize("garbage", GARBAGE, ids=lambda g: f"{len(g)}-bytes")
def test_a_corrupt_stored_account_raises_corrupt_account(garbage):
    state = Overlay(MemoryBackend({}))
    state.set(Account.key(BOB.public), garbage)
    with pytest.raises(CorruptAccount) as raised:
        read_account(state, BOB.public)
    error = raised.value
    assert error.account == BOB.public and error.raw == garbage
    assert error.key == Account.key(BOB.public)
    assert BOB.public.hex() in str(error) and f"{len(garbage)} bytes" in str(error)
    # The reason names the field the bytes ran out in, or the bytes left over after the last one.
    assert error.reason.startswith("AccountInfo") and (
        "remain" in error.reason or "left after" in error.reason
    )


def test_a_corrupt_account_in_the_node_state_raises_and_leaves_other_accounts_readable(open_chain):
    chain = open_chain({Account.key(BOB.public): GARBAGE[0]})
    state = chain.state_at()
    assert state.get(Account.key(BOB.public)) == GARBAGE[0]
    with pytest.raises(CorruptAccount):
        read_account(state, BOB.public)
    assert read_account(state, ALICE.public).free > 0


@pytest.mark.parametrize("garbage", GARBAGE, ids=lambda g: f"{len(g)}-bytes")
def test_get_account_of_a_corrupt_stored_account_is_data_loss_naming_it(open_chain, garbage):
    chain = open_chain({Account.key(BOB.public): garbage})
    error = get_account(chain, BOB.public)
    assert isinstance(error, grpc.aio.AioRpcError), f"a corrupt account was answered: {error}"
    assert error.code() == grpc.StatusCode.DATA_LOSS
    details = error.details()
    assert encode_address(BOB.public) in details and BOB.public.hex() in details
    assert "corrupt" in details and f"{len(garbage)} bytes" in details
    healthy = get_account(chain, ALICE.public)
    assert not isinstance(healthy, grpc.aio.AioRpcError) and int(healthy.free) > 0
