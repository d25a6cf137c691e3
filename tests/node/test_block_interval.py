"""--min-block-interval: a proposer waits that long after a commit, so transactions arriving meanwhile share
a block. Checked on a real dev node with transfers arriving faster than blocks."""

from __future__ import annotations

import re
import time
from datetime import datetime

import grpc
import pytest

from chain.client import transfer_call
from chain.node.config import ConfigError, NodeConfig
from chain.primitives.crypto import dev_keypair
from chain.primitives.extrinsic import sign_extrinsic
from proto import chain_pb2, chain_pb2_grpc
from tests.integration.harness import Network

FINALIZED = re.compile(r"^(\S+ \S+) INFO  gradchain\.node: finalized #(\d+) \S+ \((\d+) extrinsics\)$", re.M)
GAP = 0.5


def finalized_blocks(log: str) -> list[tuple[float, int, int]]:
    """(time, number, extrinsics) of every block the node's log says it finalized."""
    stamp = "%Y-%m-%d %H:%M:%S,%f"
    return [(datetime.strptime(t, stamp).timestamp(), int(n), int(k)) for t, n, k in FINALIZED.findall(log)]


@pytest.mark.integration
def test_blocks_under_load_are_at_least_the_min_block_interval_apart(tmp_path):
    net = Network(tmp_path, chain="dev")
    node = net.nodes[0]
    node.extra = [*node.extra, "--min-block-interval", str(GAP)]
    with net:
        net.wait_height([node], 2, timeout=60)
        with grpc.insecure_channel(node.grpc_addr) as channel:
            stub = chain_pb2_grpc.ChainServiceStub(channel)
            info = stub.GetChainInfo(chain_pb2.Empty(), timeout=10)
            alice, bob = dev_keypair("Alice"), dev_keypair("Bob")
            nonce = stub.GetAccount(chain_pb2.AccountRequest(address="0x" + alice.public.hex())).next_index
            started = time.monotonic()
            for i in range(60):  # a transfer every 50 ms for 3 s: many per block when blocks wait GAP
                raw = sign_extrinsic(
                    alice,
                    transfer_call(bob.public, 10**10),
                    nonce=nonce + i,
                    spec_version=info.spec_version,
                    tx_version=info.transaction_version,
                    genesis_hash=bytes(info.genesis_hash),
                ).encode()
                stub.SubmitExtrinsic(chain_pb2.SubmitRequest(extrinsic=raw), timeout=10)
                time.sleep(max(0.0, started + 0.05 * (i + 1) - time.monotonic()))

        def loaded() -> list[tuple[float, int, int]]:
            """The finalized blocks with the timestamp inherent and a transfer or more."""
            return [b for b in finalized_blocks(node.log_path.read_text()) if b[2] > 1]

        net.wait_for(lambda: sum(k - 1 for _, _, k in loaded()) >= 60, 30, "the 60 transfers to be final")
        blocks = loaded()
    assert sum(k - 1 for _, _, k in blocks) == 60
    gaps = [later[0] - earlier[0] for earlier, later in zip(blocks, blocks[1:], strict=False)]
    assert len(blocks) <= 3 / GAP + 2, f"{len(blocks)} blocks carried 60 transfers sent over 3 s"
    assert min(gaps) >= GAP - 0.05, f"blocks {min(gaps):.3f} s apart under --min-block-interval {GAP}"


@pytest.mark.parametrize("seconds", [-0.1, 10.5])
def test_invalid_min_block_interval_is_refused_naming_the_flag(seconds):
    with pytest.raises(ConfigError, match="--min-block-interval"):
        NodeConfig(min_block_interval=seconds).check()
