"""The new JSON-RPC spec (chainHead_v1, chainSpec_v1, transaction_v1, transactionWatch_v1, archive_v1) over a
real WebSocket against a live dev node: events in the spec's order, pinning, operations and their limits, and
the answers the spec gives for bad params, unknown subscriptions and operations after unfollow."""

from __future__ import annotations

import json

import pytest
import websocket

from chain.api.rpc.chain_head import MAX_FOLLOWS, MAX_OPERATIONS, MAX_PINNED_BLOCKS, STORAGE_ITEMS_PER_EVENT
from chain.primitives.crypto import dev_keypair
from chain.primitives.hashing import blake2_256
from chain.primitives.types import Header
from runtime.metadata import CODE_KEY
from runtime.pallets.system import Account
from runtime.version import VERSION
from tests.rpc.conftest import result, signed_transfer, ws_call, ws_notifications

pytestmark = pytest.mark.integration

ALICE = dev_keypair("Alice")
BOB = dev_keypair("Bob")
SYSTEM_ACCOUNT_PREFIX = "0x26aa394eea5630e07c48ae0c9558cef7b99d880ec681799c0cf30e8886371da9"


@pytest.fixture
def ws(dev_node):
    connection = websocket.create_connection(dev_node.ws_url, timeout=30)
    yield connection
    connection.close()


def ok(answer: dict):
    assert "error" not in answer, answer["error"]
    return answer["result"]


def error_code(answer: dict) -> int:
    assert "error" in answer, f"expected an error, got {answer}"
    return answer["error"]["code"]


def follow(ws, with_runtime: bool = True) -> tuple[str, dict]:
    sub = ok(ws_call(ws, "chainHead_v1_follow", [with_runtime]))
    return sub, ws_notifications(ws, sub, 1)[0]


def operation_events(ws, sub: str, operation_id: str, until: tuple[str, ...]) -> list[dict]:
    """This operation's events on the follow subscription, up to one whose kind is in `until`."""
    events = []
    while not events or events[-1]["event"] not in until:
        event = ws_notifications(ws, sub, 1)[0]
        if event.get("operationId") == operation_id:
            events.append(event)
    return events


def storage(ws, sub: str, block: str, items: list[dict]) -> tuple[dict, list[dict]]:
    """Run a storage operation to its end (calling continue when asked); its answer and every item."""
    started = ok(ws_call(ws, "chainHead_v1_storage", [sub, block, items, None]))
    found = []
    while True:
        event = operation_events(
            ws,
            sub,
            started["operationId"],
            (
                "operationStorageItems",
                "operationStorageDone",
                "operationWaitingForContinue",
                "operationError",
            ),
        )[-1]
        if event["event"] == "operationStorageItems":
            found.extend(event["items"])
        elif event["event"] == "operationWaitingForContinue":
            assert ok(ws_call(ws, "chainHead_v1_continue", [sub, started["operationId"]])) is None
        else:
            assert event["event"] == "operationStorageDone", event
            return started, found


def test_rpc_methods_lists_every_new_spec_method(dev_node):
    methods = set(result(dev_node, "rpc_methods")["methods"])
    for name in (
        "follow",
        "unfollow",
        "header",
        "body",
        "storage",
        "call",
        "continue",
        "stopOperation",
        "unpin",
    ):
        assert f"chainHead_v1_{name}" in methods
    assert {
        "chainSpec_v1_chainName",
        "chainSpec_v1_genesisHash",
        "chainSpec_v1_properties",
        "transaction_v1_broadcast",
        "transaction_v1_stop",
        "transactionWatch_v1_submitAndWatch",
        "transactionWatch_v1_unwatch",
        "archive_v1_finalizedHeight",
        "archive_v1_hashByHeight",
        "archive_v1_header",
        "archive_v1_body",
        "archive_v1_storage",
        "archive_v1_call",
        "archive_v1_genesisHash",
    } <= methods


def test_chain_spec_v1_matches_the_legacy_answers(dev_node):
    assert result(dev_node, "chainSpec_v1_chainName") == result(dev_node, "system_chain")
    assert result(dev_node, "chainSpec_v1_genesisHash") == result(dev_node, "chain_getBlockHash", [0])
    assert result(dev_node, "chainSpec_v1_properties") == result(dev_node, "system_properties")


def test_code_identifies_the_runtime(dev_node):
    code = result(dev_node, "state_getStorage", ["0x" + CODE_KEY.hex()])
    assert bytes.fromhex(code[2:]).startswith(VERSION.encode())
    assert (
        result(dev_node, "state_getStorageHash", ["0x" + CODE_KEY.hex()])
        == "0x" + blake2_256(bytes.fromhex(code[2:])).hex()
    )


def test_state_call_takes_empty_call_data(dev_node):
    # Vec<u32> [14, 15]
    assert result(dev_node, "state_call", ["Metadata_metadata_versions", "0x"]) == "0x080e0000000f000000"
    assert result(dev_node, "state_call", ["Metadata_metadata_versions", ""]) == "0x080e0000000f000000"


def test_follow_reports_the_finalized_head_then_each_block_as_new_best_and_finalized(ws):
    sub, initialized = follow(ws)
    assert initialized["event"] == "initialized"
    [head] = initialized["finalizedBlockHashes"]
    spec = initialized["finalizedBlockRuntime"]["spec"]
    assert initialized["finalizedBlockRuntime"]["type"] == "valid"
    assert (spec["specName"], spec["specVersion"], spec["transactionVersion"]) == (
        VERSION.spec_name,
        VERSION.spec_version,
        VERSION.transaction_version,
    )
    assert spec["apis"]["0xd2bc9897eed08f15"] == 3  # TaggedTransactionQueue, as the spec's example names it
    parent = head
    for _ in range(2):
        new_block, best, finalized = ws_notifications(ws, sub, 3)
        assert new_block == {
            "event": "newBlock",
            "blockHash": new_block["blockHash"],
            "parentBlockHash": parent,
            "newRuntime": None,
        }
        assert best == {"event": "bestBlockChanged", "bestBlockHash": new_block["blockHash"]}
        assert finalized == {
            "event": "finalized",
            "finalizedBlockHashes": [new_block["blockHash"]],
            "prunedBlockHashes": [],
        }
        parent = new_block["blockHash"]


def test_follow_without_runtime_omits_runtime_fields(ws):
    sub, initialized = follow(ws, with_runtime=False)
    assert "finalizedBlockRuntime" not in initialized
    new_block = ws_notifications(ws, sub, 1)[0]
    assert new_block["event"] == "newBlock" and "newRuntime" not in new_block


def test_header_body_and_call_of_a_pinned_block(ws, dev_node):
    sub, initialized = follow(ws)
    [head] = initialized["finalizedBlockHashes"]
    header = Header.decode(bytes.fromhex(ok(ws_call(ws, "chainHead_v1_header", [sub, head]))[2:]))
    assert "0x" + header.hash.hex() == head
    started = ok(ws_call(ws, "chainHead_v1_body", [sub, head]))
    assert started["result"] == "started"
    [done] = operation_events(ws, sub, started["operationId"], ("operationBodyDone",))
    assert done["value"] == result(dev_node, "chain_getBlock", [head])["block"]["extrinsics"]
    started = ok(ws_call(ws, "chainHead_v1_call", [sub, head, "Metadata_metadata_versions", ""]))
    [done] = operation_events(ws, sub, started["operationId"], ("operationCallDone",))
    assert done["output"] == "0x080e0000000f000000"
    started = ok(ws_call(ws, "chainHead_v1_call", [sub, head, "Nothing_here", "0x"]))
    [failed] = operation_events(ws, sub, started["operationId"], ("operationError",))
    assert "Nothing_here" in failed["error"]


def test_storage_values_hashes_merkle_values_and_descendants(ws, dev_node):
    sub, initialized = follow(ws)
    [head] = initialized["finalizedBlockHashes"]
    alice = "0x" + Account.key(ALICE.public).hex()
    value = result(dev_node, "state_getStorage", [alice, head])
    _, items = storage(
        ws,
        sub,
        head,
        [
            {"key": alice, "type": "value"},
            {"key": alice, "type": "hash"},
            {"key": "0x" + "ff" * 20, "type": "value"},
            {"key": "0x", "type": "closestDescendantMerkleValue"},
        ],
    )
    state_root = result(dev_node, "chain_getHeader", [head])["stateRoot"]
    assert items == [
        {"key": alice, "value": value},
        {"key": alice, "hash": "0x" + blake2_256(bytes.fromhex(value[2:])).hex()},
        {"key": "0x", "closestDescendantMerkleValue": state_root},
    ]
    keys = result(dev_node, "state_getKeysPaged", [SYSTEM_ACCOUNT_PREFIX, 1000, None, head])
    assert len(keys) > STORAGE_ITEMS_PER_EVENT  # so the operation pauses for continue at least once
    _, items = storage(ws, sub, head, [{"key": SYSTEM_ACCOUNT_PREFIX, "type": "descendantsHashes"}])
    assert [item["key"] for item in items] == keys
    assert all(set(item) == {"key", "hash"} for item in items)


def test_storage_beyond_the_free_operation_slots_is_discarded_and_limit_reached(ws):
    sub, initialized = follow(ws)
    [head] = initialized["finalizedBlockHashes"]
    whole_state = {"key": "0x", "type": "descendantsValues"}
    held = ok(ws_call(ws, "chainHead_v1_storage", [sub, head, [whole_state] * (MAX_OPERATIONS - 1), None]))
    assert held["discardedItems"] == 0
    one_free = ok(ws_call(ws, "chainHead_v1_storage", [sub, head, [whole_state] * 3, None]))
    assert one_free["discardedItems"] == 2
    assert ok(ws_call(ws, "chainHead_v1_body", [sub, head])) == {"result": "limitReached"}
    assert ok(ws_call(ws, "chainHead_v1_call", [sub, head, "Core_version", ""])) == {"result": "limitReached"}
    assert ok(ws_call(ws, "chainHead_v1_storage", [sub, head, [whole_state], None])) == {
        "result": "limitReached"
    }
    assert ok(ws_call(ws, "chainHead_v1_stopOperation", [sub, held["operationId"]])) is None
    assert ok(ws_call(ws, "chainHead_v1_body", [sub, head]))["result"] == "started"


def test_continue_on_an_operation_not_waiting_is_32803(ws):
    sub, initialized = follow(ws)
    [head] = initialized["finalizedBlockHashes"]
    started = ok(
        ws_call(ws, "chainHead_v1_storage", [sub, head, [{"key": "0x", "type": "descendantsHashes"}], None])
    )
    operation_events(ws, sub, started["operationId"], ("operationWaitingForContinue",))
    # in one batch: the first continue resumes the operation, so the second finds it not waiting
    ws.send(
        json.dumps(
            [
                {
                    "jsonrpc": "2.0",
                    "id": i,
                    "method": "chainHead_v1_continue",
                    "params": [sub, started["operationId"]],
                }
                for i in ("c1", "c2")
            ]
        )
    )
    answers = {}
    while not answers:
        message = json.loads(ws.recv())
        if isinstance(message, list):
            answers = {a["id"]: a for a in message}
    assert ok(answers["c1"]) is None
    assert error_code(answers["c2"]) == -32803


def test_unpin_releases_a_block_and_refuses_unknown_or_duplicate_hashes(ws):
    sub, initialized = follow(ws)
    [head] = initialized["finalizedBlockHashes"]
    assert error_code(ws_call(ws, "chainHead_v1_unpin", [sub, [head, head]])) == -32804
    assert error_code(ws_call(ws, "chainHead_v1_unpin", [sub, [head, "0x" + "00" * 32]])) == -32801
    assert ok(ws_call(ws, "chainHead_v1_header", [sub, head]))  # nothing was unpinned by the refusals
    assert ok(ws_call(ws, "chainHead_v1_unpin", [sub, head])) is None
    assert error_code(ws_call(ws, "chainHead_v1_header", [sub, head])) == -32801
    assert error_code(ws_call(ws, "chainHead_v1_body", [sub, head])) == -32801
    assert error_code(ws_call(ws, "chainHead_v1_unpin", [sub, head])) == -32801


def test_operations_after_unfollow_or_on_unknown_subscriptions_are_null_or_limit_reached(ws):
    sub, initialized = follow(ws)
    [head] = initialized["finalizedBlockHashes"]
    assert ok(ws_call(ws, "chainHead_v1_unfollow", [sub])) is None
    for stale in (sub, "no-such-subscription"):
        assert ok(ws_call(ws, "chainHead_v1_header", [stale, head])) is None
        assert ok(ws_call(ws, "chainHead_v1_body", [stale, head])) == {"result": "limitReached"}
        assert ok(ws_call(ws, "chainHead_v1_call", [stale, head, "Core_version", ""])) == {
            "result": "limitReached"
        }
        assert ok(
            ws_call(ws, "chainHead_v1_storage", [stale, head, [{"key": "0x", "type": "value"}], None])
        ) == {"result": "limitReached"}
        assert ok(ws_call(ws, "chainHead_v1_unpin", [stale, head])) is None
        assert ok(ws_call(ws, "chainHead_v1_continue", [stale, "1"])) is None
        assert ok(ws_call(ws, "chainHead_v1_stopOperation", [stale, "1"])) is None
        assert ok(ws_call(ws, "chainHead_v1_unfollow", [stale])) is None


def test_follow_subscriptions_are_scoped_to_their_connection(ws, dev_node):
    sub, initialized = follow(ws)
    [head] = initialized["finalizedBlockHashes"]
    other = websocket.create_connection(dev_node.ws_url, timeout=30)
    try:
        assert ok(ws_call(other, "chainHead_v1_header", [sub, head])) is None
    finally:
        other.close()


def test_follows_beyond_the_per_connection_limit_are_32800(ws):
    for _ in range(MAX_FOLLOWS):
        follow(ws)
    assert error_code(ws_call(ws, "chainHead_v1_follow", [True])) == -32800


@pytest.mark.parametrize(
    ("method", "params"),
    [
        ("chainHead_v1_follow", ["yes"]),
        ("chainHead_v1_follow", []),
        ("chainHead_v1_header", [7, "0x" + "00" * 32]),
        ("chainHead_v1_header", ["s", "0x1234"]),
        ("chainHead_v1_body", ["s", "not hex"]),
        ("chainHead_v1_call", ["s", "0x" + "00" * 32, 5, "0x"]),
        ("chainHead_v1_call", ["s", "0x" + "00" * 32, "Core_version", "zz"]),
        ("chainHead_v1_storage", ["s", "0x" + "00" * 32, [{"key": "0x", "type": "everything"}], None]),
        ("chainHead_v1_storage", ["s", "0x" + "00" * 32, [{"key": "0x", "type": "value", "extra": 1}], None]),
        ("chainHead_v1_storage", ["s", "0x" + "00" * 32, {"key": "0x"}, None]),
        ("chainHead_v1_unpin", ["s", ["0x12"]]),
        ("chainHead_v1_continue", ["s", 1]),
        ("transaction_v1_broadcast", ["0xzz"]),
        ("transaction_v1_stop", [1]),
        ("transactionWatch_v1_submitAndWatch", [42]),
        ("archive_v1_hashByHeight", ["one"]),
        ("archive_v1_hashByHeight", [-1]),
        ("archive_v1_header", ["0x00"]),
        ("archive_v1_call", ["0x" + "00" * 32, None, "0x"]),
        (
            "archive_v1_storage",
            ["0x" + "00" * 32, [{"key": "0x", "type": "value", "paginationStartKey": "0x"}], None],
        ),
    ],
)
def test_invalid_params_are_32602(ws, method, params):
    assert error_code(ws_call(ws, method, params)) == -32602


def test_archive_reads_any_kept_block(dev_node):
    height = result(dev_node, "archive_v1_finalizedHeight")
    assert height >= int(result(dev_node, "chain_getHeader", [])["number"], 16) - 1
    [genesis] = result(dev_node, "archive_v1_hashByHeight", [0])
    assert (
        genesis == result(dev_node, "archive_v1_genesisHash") == result(dev_node, "chain_getBlockHash", [0])
    )
    assert result(dev_node, "archive_v1_hashByHeight", [height + 1000]) == []
    [block] = result(dev_node, "archive_v1_hashByHeight", [1])
    header = Header.decode(bytes.fromhex(result(dev_node, "archive_v1_header", [block])[2:]))
    assert header.number == 1 and "0x" + header.parent_hash.hex() == genesis
    assert (
        result(dev_node, "archive_v1_body", [block])
        == result(dev_node, "chain_getBlock", [block])["block"]["extrinsics"]
    )
    assert result(dev_node, "archive_v1_header", ["0x" + "00" * 32]) is None
    assert result(dev_node, "archive_v1_body", ["0x" + "00" * 32]) is None
    assert result(dev_node, "archive_v1_call", [block, "Metadata_metadata_versions", ""]) == {
        "success": True,
        "value": "0x080e0000000f000000",
    }
    assert result(dev_node, "archive_v1_call", [block, "Nothing_here", "0x"])["success"] is False
    assert result(dev_node, "archive_v1_call", ["0x" + "00" * 32, "Core_version", "0x"]) is None


def test_archive_storage_streams_items_then_done(ws, dev_node):
    [block] = ok(ws_call(ws, "archive_v1_hashByHeight", [1]))
    alice = "0x" + Account.key(ALICE.public).hex()
    keys = result(dev_node, "state_getKeysPaged", [SYSTEM_ACCOUNT_PREFIX, 1000, None, block])
    sub = ok(
        ws_call(
            ws,
            "archive_v1_storage",
            [
                block,
                [
                    {"key": alice, "type": "value"},
                    {
                        "key": SYSTEM_ACCOUNT_PREFIX,
                        "type": "descendantsHashes",
                        "paginationStartKey": keys[0],
                    },
                ],
                None,
            ],
        )
    )
    events = ws_notifications(ws, sub, 1 + len(keys) - 1 + 1)
    assert events[0] == {
        "event": "storage",
        "key": alice,
        "value": result(dev_node, "state_getStorage", [alice, block]),
    }
    assert [e["key"] for e in events[1:-1]] == keys[1:]
    assert events[-1] == {"event": "storageDone"}
    sub = ok(ws_call(ws, "archive_v1_storage", ["0x" + "00" * 32, [{"key": alice, "type": "value"}], None]))
    assert ws_notifications(ws, sub, 1)[0]["event"] == "storageError"


def test_transaction_watch_reports_validated_then_included_and_finalized(ws, dev_node):
    xt = signed_transfer(dev_node, ALICE, BOB.public, 10**12)
    sub = ok(ws_call(ws, "transactionWatch_v1_submitAndWatch", ["0x" + xt.hex()]))
    validated, included, finalized = ws_notifications(ws, sub, 3, timeout=60)
    assert validated == {"event": "validated"}
    assert included["event"] == "bestChainBlockIncluded" and finalized["event"] == "finalized"
    assert included["block"] == finalized["block"]
    body = result(dev_node, "chain_getBlock", [finalized["block"]["hash"]])["block"]["extrinsics"]
    assert body[finalized["block"]["index"]] == "0x" + xt.hex()


def test_transaction_watch_reports_a_bad_transaction_invalid(ws, dev_node):
    xt = bytearray(signed_transfer(dev_node, ALICE, BOB.public, 10**12))
    xt[-10] ^= 1  # inside the signed call (the destination account): a bad proof
    sub = ok(ws_call(ws, "transactionWatch_v1_submitAndWatch", ["0x" + xt.hex()]))
    [invalid] = ws_notifications(ws, sub, 1)
    assert invalid["event"] == "invalid" and "bad signature" in invalid["error"]
    assert error_code(ws_call(ws, "transactionWatch_v1_unwatch", [sub])) == -32602


def test_broadcast_answers_an_operation_that_stop_ends(ws, dev_node):
    ferdie = dev_keypair("Ferdie")  # no other test signs with it, so the pool holds nothing else of its
    xt = signed_transfer(dev_node, ferdie, BOB.public, 10**12)
    nonce = result(dev_node, "system_accountNextIndex", ["0x" + ferdie.public.hex()])
    operation = ok(ws_call(ws, "transaction_v1_broadcast", ["0x" + xt.hex()]))
    assert isinstance(operation, str)
    assert result(dev_node, "system_accountNextIndex", ["0x" + ferdie.public.hex()]) == nonce + 1  # pooled
    assert ok(ws_call(ws, "transaction_v1_stop", [operation])) is None
    assert error_code(ws_call(ws, "transaction_v1_stop", [operation])) == -32602
    assert isinstance(ok(ws_call(ws, "transaction_v1_broadcast", ["0x00"])), str)  # invalid: silently dropped


@pytest.mark.slow
def test_a_follow_that_never_unpins_is_stopped_at_the_pinning_limit(ws):
    sub, _ = follow(ws, with_runtime=False)
    events = ws_notifications(ws, sub, 3 * (MAX_PINNED_BLOCKS - 1) + 1, timeout=MAX_PINNED_BLOCKS * 5)
    assert [e["event"] for e in events[-4:]] == ["newBlock", "bestBlockChanged", "finalized", "stop"]
    assert ok(ws_call(ws, "chainHead_v1_header", [sub, events[0]["blockHash"]])) is None
