"""Runtime throughput: signed transfers applied per second (signature checks and state root included),
next to raw PyNaCl Ed25519 verifications per second measured in the same run. Prints one JSON object."""

from __future__ import annotations

import json
import time

import nacl.signing

from chain.primitives import calls
from chain.primitives.crypto import Keypair
from chain.primitives.extrinsic import sign_extrinsic
from chain.primitives.hashing import blake2_256
from runtime.block_builder import author_digest, build_block
from runtime.chain_spec import load_chain_spec
from runtime.pallets.system import Account, AccountInfo
from runtime.state import InMemoryChainState

ACCOUNTS = 100_000
UNIT = 10**12


def main() -> None:
    print(json.dumps(measure()))


def measure() -> dict:
    """The runtime's transfers per second in blocks of 1,000 and 5,000, and PyNaCl's verifies per second."""
    spec = load_chain_spec("dev")
    runtime = spec.runtime()
    storage = dict(spec.genesis_storage)
    senders = [Keypair.from_seed(blake2_256(i.to_bytes(4, "little"))) for i in range(5_000)]
    publics = [k.public for k in senders] + [
        blake2_256(b"acct" + i.to_bytes(4, "little")) for i in range(ACCOUNTS - len(senders))
    ]
    funded = AccountInfo(providers=1, free=1_000 * UNIT).encode()
    for p in publics:
        storage[Account.key(p)] = funded
    chain = InMemoryChainState(storage)
    head, number, now = spec.genesis_hash, 0, 1_700_000_000_000
    v = runtime.version
    results = {}
    for n in (1_000, 5_000):
        xts = [
            sign_extrinsic(
                senders[i],
                calls.Balances.transfer_keep_alive(publics[(i * 7919 + 13) % ACCOUNTS], UNIT),
                nonce=_nonce(chain, senders[i].public),
                spec_version=v.spec_version,
                tx_version=v.transaction_version,
                genesis_hash=runtime.genesis_hash,
            ).encode()
            for i in range(n)
        ]
        now += 2_000
        start = time.perf_counter()
        built = build_block(
            runtime,
            chain.backend,
            head,
            number + 1,
            now,
            xts,
            chain.root_after,
            (author_digest(publics[-1]),),
        )
        elapsed = time.perf_counter() - start
        assert not built.rejected, built.rejected[:1]
        chain.commit(built.finalized.changes)
        head, number = built.block.hash, number + 1
        results[f"block_{n}_transfers_per_s"] = round(n / elapsed, 1)
        results[f"block_{n}_seconds"] = round(elapsed, 3)
    verify_rate = pynacl_verifies_per_s()
    results["pynacl_ed25519_verify_per_s"] = round(verify_rate, 1)
    results["ratio_5000_to_verify"] = round(results["block_5000_transfers_per_s"] / verify_rate, 3)
    results["accounts"] = ACCOUNTS
    results["state"] = "in-memory flat table + chain.storage trie (root computed inside the measurement)"
    return results


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


def _nonce(chain: InMemoryChainState, who: bytes) -> int:
    raw = chain.backend.get(Account.key(who))
    return 0 if raw is None else AccountInfo.decode(raw).nonce


if __name__ == "__main__":
    main()
