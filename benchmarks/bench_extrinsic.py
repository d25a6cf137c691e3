"""Extrinsic decode + signature verification per second, against raw PyNaCl verifications in the same run.

Prints one JSON object. The ratio is what matters (target: decode+verify >= 70% of the raw verify rate).
"""

from __future__ import annotations

import json
import time

import nacl.signing

from chain.primitives import crypto
from chain.primitives.codec import encode_compact
from chain.primitives.extrinsic import (
    Era,
    UncheckedExtrinsic,
    sign_extrinsic,
    signing_payload,
    verify_extrinsic,
)

GENESIS = bytes(32)
N = 5000


def build(n: int) -> list[bytes]:
    alice, bob = crypto.dev_keypair("Alice"), crypto.dev_keypair("Bob")
    call = b"\x02\x03\x00" + bob.public + encode_compact(10**12)
    return [sign_extrinsic(alice, call, nonce=i, spec_version=100, tx_version=1, genesis_hash=GENESIS,
                           era=Era.mortal(64, 100), birth_hash=GENESIS).encode() for i in range(n)]


def rate(fn, items) -> float:
    start = time.perf_counter()
    for item in items:
        fn(item)
    return len(items) / (time.perf_counter() - start)


def main() -> None:
    raw = build(N)
    decoded = [UncheckedExtrinsic.decode(r) for r in raw]
    payloads = [(x.signature.signer, signing_payload(x.call, x.signature.era, x.signature.nonce, x.signature.tip,
                                                     100, 1, GENESIS, GENESIS), x.signature.signature)
                for x in decoded]

    def raw_verify(p):
        nacl.signing.VerifyKey(p[0]).verify(p[1], p[2])

    def decode_and_verify(r):
        xt = UncheckedExtrinsic.decode(r)
        if not verify_extrinsic(xt, 100, 1, GENESIS, GENESIS):
            raise AssertionError("bad signature")

    rates = {"raw_verify_per_s": [], "decode_verify_per_s": [], "decode_only_per_s": []}
    for _ in range(3):  # interleave to share any machine noise fairly
        rates["raw_verify_per_s"].append(rate(raw_verify, payloads))
        rates["decode_verify_per_s"].append(rate(decode_and_verify, raw))
        rates["decode_only_per_s"].append(rate(UncheckedExtrinsic.decode, raw))
    best = {k: round(max(v)) for k, v in rates.items()}
    best["ratio_decode_verify_to_raw"] = round(best["decode_verify_per_s"] / best["raw_verify_per_s"], 3)
    best["target_ratio"] = 0.7
    best["extrinsics"] = N
    print(json.dumps({"benchmark": "extrinsic_decode_verify", **best}))


if __name__ == "__main__":
    main()
