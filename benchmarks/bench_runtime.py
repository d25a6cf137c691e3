"""Runtime throughput on the node's pipeline: signed transfers per second at each stage, next to raw PyNaCl
Ed25519 verifications per second measured in the same run. Prints one JSON object.

The `dev` chain with `--accounts` extra funded accounts in its genesis (its balances config, so the genesis
builder writes them and the total issuance) carries `--blocks` blocks of `--per-block` signed
`transfer_keep_alive`s: every block has one transfer from each of `--per-block` senders (nonce = the block's
index) to receivers that never send. The same signed transfers go through three stages:

- `build_in_memory`: `runtime.block_builder.build_block` over `runtime.state.InMemoryChainState` (a flat
  table plus the node's trie): signatures checked, transfers applied, state root computed; the figure this
  benchmark always gave.
- `execute_in_memory`: `runtime.block_builder.execute_block` of each built block on the same parent state,
  which is what a validator does when it checks a proposal or imports a block: re-execution, the state root
  and the extrinsics root checked against the header.
- `chain_state_leveldb`: the node's `ChainState` (chain/node/chain_state.py) on a temporary LevelDB database
  opened as the node opens it (`open_chain_database`, genesis written into the fresh database): for each
  block `ChainState.build_block` (Aura author digest, state update prepared against LevelDB's `StateDB`),
  a commit certificate precommitted by the dev validator, and `ChainState.commit`, one synced LevelDB batch.

The runtime remembers signatures that verified (`runtime.executive.verified_signature`, which lets a block
skip what the pool already checked); the benchmark forgets them before every timed block, so every stage
verifies every signature, as a node importing blocks it never pooled does.

Each stage's rate is its transfers over the summed seconds of its blocks, and `ratio_to_verify` is that rate
over the PyNaCl verify rate of this run (compare ratios measured in the same run, never absolute figures).
On the final state of the in-memory chain and on the LevelDB one (read back through the store), every
sender's nonce must equal `--blocks` and every receiver's free balance its genesis balance plus what it was
sent: each submitted transfer applied exactly once; and each re-executed block's header (its state root
included) must equal the built one. Otherwise the run exits 1. Signing, genesis and the database's
setup are outside every timing.
"""

from __future__ import annotations

import argparse
import dataclasses
import functools
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path

import nacl.signing

from chain.node.chain_state import ChainState
from chain.node.config import NodeConfig
from chain.node.storage_setup import open_chain_database
from chain.primitives import calls
from chain.primitives.crypto import DEV_ACCOUNT_NAMES, Keypair, dev_keypair
from chain.primitives.extrinsic import sign_extrinsic
from chain.primitives.hashing import blake2_256
from chain.primitives.types import Header
from consensus.certificate import CommitCertificate
from consensus.types import SignedVote, Vote, VoteType
from consensus.validators import ValidatorSet
from runtime.block_builder import BuiltBlock, author_digest, build_block, execute_block
from runtime.chain_spec import GENESIS_DIR, ChainSpec, parse_chain_spec
from runtime.executive import forget_verified_signatures
from runtime.pallets import staking
from runtime.pallets.system import ACCOUNT_INFO, Account
from runtime.state import InMemoryChainState

ACCOUNTS = 100_000
BLOCKS = 3
PER_BLOCK = 5_000
MAX_PER_BLOCK = 10_000  # ChainState.build_block's default max_extrinsics
UNIT = 10**12
FUNDS = 1_000 * UNIT
AMOUNT = UNIT
START_MS = 1_700_000_000_000
BLOCK_MS = 2_000


class NotAppliedOnce(RuntimeError):
    """A stage's final state shows a submitted transfer missing or applied more than once."""


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0],
        epilog="The stages are described in this module's docstring. Exits 1 if a transfer is not applied once.",
    )
    parser.add_argument("--blocks", type=int, default=BLOCKS, help=f"blocks per stage (default {BLOCKS})")
    parser.add_argument(
        "--per-block",
        type=int,
        default=PER_BLOCK,
        help=f"transfers per block, one per sender (default {PER_BLOCK}, at most {MAX_PER_BLOCK})",
    )
    parser.add_argument(
        "--accounts",
        type=int,
        default=ACCOUNTS,
        help=f"funded accounts in genesis, senders included (default {ACCOUNTS})",
    )
    parser.add_argument(
        "--verifies", type=int, default=5_000, help="PyNaCl verifications timed (default 5000)"
    )
    args = parser.parse_args()
    if args.blocks < 1 or not 1 <= args.per_block <= MAX_PER_BLOCK or args.verifies < 1:
        parser.error(f"--blocks and --verifies take at least 1, --per-block 1..{MAX_PER_BLOCK}")
    if args.accounts < 2 * args.per_block:
        parser.error("--accounts must be at least twice --per-block (senders and as many receivers)")
    try:
        out = measure(args.blocks, args.per_block, args.accounts, args.verifies)
    except NotAppliedOnce as e:
        print(json.dumps({"error": str(e)}))
        sys.exit(1)
    print(json.dumps(out))


def measure(
    blocks: int = 1, per_block: int = PER_BLOCK, accounts: int = ACCOUNTS, verifies: int = 5_000
) -> dict:
    """Transfers per second of each stage (module docstring) and PyNaCl's verifies per second. The defaults
    (one 5,000-transfer block per stage) are what bench_throughput.py takes before its nodes start.

    Raises NotAppliedOnce if a stage's final state does not show every transfer applied exactly once."""
    senders = [Keypair.from_seed(blake2_256(i.to_bytes(4, "little"))) for i in range(per_block)]
    receivers = [blake2_256(b"acct" + i.to_bytes(4, "little")) for i in range(accounts - per_block)]
    spec = funded_spec([k.public for k in senders] + receivers)
    runtime = spec.runtime()
    v = runtime.version
    blocks_xts: list[list[bytes]] = []
    received: dict[bytes, int] = {}
    for b in range(blocks):
        xts = []
        for i, key in enumerate(senders):
            dest = receivers[((b * per_block + i) * 7919 + 13) % len(receivers)]
            received[dest] = received.get(dest, 0) + AMOUNT
            xts.append(
                sign_extrinsic(
                    key,
                    calls.Balances.transfer_keep_alive(dest, AMOUNT),
                    nonce=b,
                    spec_version=v.spec_version,
                    tx_version=v.transaction_version,
                    genesis_hash=runtime.genesis_hash,
                ).encode()
            )
        blocks_xts.append(xts)

    def check(stage: str, state) -> None:  # noqa: ANN001 - any backend with get(key)
        expected = [(k.public, blocks, None) for k in senders] + [
            (r, 0, FUNDS + amount) for r, amount in received.items()
        ]
        for who, nonce, free in expected:
            raw = state.get(Account.key(who))
            info = None if raw is None else ACCOUNT_INFO.decode_bytes(raw)
            if info is None or info.nonce != nonce or (free is not None and info.free != free):
                got = None if info is None else {"nonce": info.nonce, "free": info.free}
                raise NotAppliedOnce(
                    f"{stage}: account 0x{who.hex()} is {got}, expected nonce {nonce}"
                    + ("" if free is None else f" and free {free}")
                )

    build_s, execute_s = in_memory_stages(spec, blocks_xts, check)
    leveldb_s = chain_state_stage(spec, blocks_xts, check)
    verify_rate = pynacl_verifies_per_s(verifies)
    transfers = blocks * per_block
    stages = {}
    for name, seconds, what in (
        ("build_in_memory", build_s, "block_builder.build_block on InMemoryChainState"),
        (
            "execute_in_memory",
            execute_s,
            "block_builder.execute_block of each built block (validator import)",
        ),
        (
            "chain_state_leveldb",
            leveldb_s,
            "ChainState.build_block + commit certificate + ChainState.commit on LevelDB (open_chain_database)",
        ),
    ):
        rate = transfers / sum(seconds)
        stages[name] = {
            "transfers_per_s": round(rate, 1),
            "ratio_to_verify": round(rate / verify_rate, 3),
            "block_seconds": [round(s, 3) for s in seconds],
            "measures": what,
        }
    return {
        "blocks": blocks,
        "per_block": per_block,
        "transfers": transfers,
        "accounts": accounts,
        "pynacl_ed25519_verify_per_s": round(verify_rate, 1),
        "stages": stages,
        # bench_throughput.py reads this one: the build_in_memory rate, under the name it always had
        f"block_{per_block}_transfers_per_s": stages["build_in_memory"]["transfers_per_s"],
        "applied_exactly_once": True,
    }


class FundedSpec(ChainSpec):
    """A chain spec whose genesis header is computed once. ChainSpec's property hashes the whole genesis
    storage (a trie of `--accounts` entries, about a second) on every read, and the runtime, the in-memory
    stage and open_chain_database each read it."""

    @functools.cached_property
    def genesis_header(self) -> Header:
        return super().genesis_header


def funded_spec(accounts: list[bytes]) -> FundedSpec:
    """The dev chain spec with `accounts` endowed with FUNDS each in its genesis balances config."""
    doc = json.loads((GENESIS_DIR / "dev.json").read_text(encoding="utf-8"))
    balances = doc["genesis"]["runtimeGenesis"]["config"]["balances"]["balances"]
    balances.extend(["0x" + a.hex(), FUNDS] for a in accounts)
    spec = parse_chain_spec(doc)
    return FundedSpec(**{f.name: getattr(spec, f.name) for f in dataclasses.fields(spec)})


def in_memory_stages(
    spec: ChainSpec, blocks_xts: list[list[bytes]], check
) -> tuple[list[float], list[float]]:  # noqa: ANN001
    """Seconds of build_block and of execute_block, per block, over the in-memory state."""
    runtime = spec.runtime()
    chain = InMemoryChainState(spec.genesis_storage)
    parent = spec.genesis_header
    author = dev_keypair("Alice").public
    build_s, execute_s = [], []
    for b, xts in enumerate(blocks_xts):
        forget_verified_signatures()
        start = time.perf_counter()
        built = build_block(
            runtime,
            chain.backend,
            parent.hash,
            parent.number + 1,
            START_MS + (b + 1) * BLOCK_MS,
            xts,
            chain.root_after,
            (author_digest(author),),
        )
        build_s.append(time.perf_counter() - start)
        _no_rejects("build_in_memory", built)
        forget_verified_signatures()
        start = time.perf_counter()
        executed = execute_block(runtime, chain.backend, built.block, chain.root_after, parent=parent)
        execute_s.append(time.perf_counter() - start)
        if executed.block.header != built.block.header:
            raise NotAppliedOnce(
                f"execute_in_memory: block #{parent.number + 1} re-executes to another header"
            )
        chain.commit(built.finalized.changes)
        parent = built.block.header
    check("build_in_memory", chain.backend)
    return build_s, execute_s


def chain_state_stage(spec: ChainSpec, blocks_xts: list[list[bytes]], check) -> list[float]:  # noqa: ANN001
    """Seconds of ChainState.build_block + certificate + ChainState.commit, per block, on a fresh LevelDB."""
    tmp = Path(tempfile.mkdtemp(prefix="bench-runtime-"))
    try:
        config = NodeConfig(chain=spec.id, base_path=tmp)
        store = open_chain_database(config.chain_dir(spec.id) / "db", spec, config.pruning)
        try:
            chain = ChainState(store, spec.runtime())
            keys = {dev_keypair(n).public: dev_keypair(n) for n in DEV_ACCOUNT_NAMES}
            author = dev_keypair("Alice").public
            seconds = []
            for b, xts in enumerate(blocks_xts):
                number = chain.number + 1
                forget_verified_signatures()
                start = time.perf_counter()
                executed = chain.build_block(xts, author=author, now_ms=START_MS + (b + 1) * BLOCK_MS)
                vset = ValidatorSet.of(staking.validator_set(chain.state_at(chain.head_hash)))
                vote = Vote(VoteType.PRECOMMIT, number, 0, executed.hash)
                precommits = [
                    SignedVote.sign(vote, keys[m.public], chain.runtime.genesis_hash) for m in vset.validators
                ]
                cert = CommitCertificate.from_precommits(number, 0, executed.hash, precommits, vset)
                _no_rejects("chain_state_leveldb", executed.built)
                chain.commit(executed, cert.encode())
                seconds.append(time.perf_counter() - start)
            check("chain_state_leveldb", chain.state_at())
        finally:
            store.close()
        return seconds
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _no_rejects(stage: str, built: BuiltBlock) -> None:
    if built.rejected:
        raise NotAppliedOnce(
            f"{stage}: {len(built.rejected)} transfers rejected, the first: {built.rejected[0]}"
        )


def pynacl_verifies_per_s(count: int = 5_000) -> float:
    """Raw Ed25519 verifications per second of one 100-byte message with PyNaCl, on one core."""
    vk = nacl.signing.SigningKey(bytes(32))
    msg = bytes(100)
    sig = vk.sign(msg).signature
    verify_key = vk.verify_key
    start = time.perf_counter()
    for _ in range(count):
        verify_key.verify(msg, sig)
    return count / (time.perf_counter() - start)


if __name__ == "__main__":
    main()
