"""Extrinsic decode + signature verification per second, per signature scheme, against raw verifications of
the same scheme in the same run.

- Ed25519: `decode_verify_per_s` vs `raw_verify_per_s` (PyNaCl), `ratio_decode_verify_to_raw`;
- Sr25519: `sr25519_decode_verify_per_s` vs `sr25519_raw_verify_per_s` (py-sr25519-bindings, signing context
  "substrate"), `sr25519_ratio_decode_verify_to_raw`;
- `sr25519_to_ed25519_decode_verify`: what an Sr25519-signed extrinsic costs to check relative to an
  Ed25519 one on this machine.

Prints one JSON object. The ratios are what matter (target: decode+verify >= 70% of the raw verify rate).
"""

from __future__ import annotations

import json
import time

import nacl.signing
import sr25519

from chain.primitives import calls, crypto
from chain.primitives.extrinsic import (
    Era,
    UncheckedExtrinsic,
    sign_extrinsic,
    signing_payload,
    verify_extrinsic,
)

GENESIS = bytes(32)
N = 5000


def build(n: int, alice: crypto.Signer) -> list[bytes]:
    bob = crypto.dev_keypair("Bob")
    call = calls.Balances.transfer_keep_alive(bob.public, 10**12)
    return [
        sign_extrinsic(
            alice,
            call,
            nonce=i,
            spec_version=100,
            tx_version=1,
            genesis_hash=GENESIS,
            era=Era.mortal(64, 100),
            birth_hash=GENESIS,
        ).encode()
        for i in range(n)
    ]


def rate(fn, items) -> float:
    start = time.perf_counter()
    for item in items:
        fn(item)
    return len(items) / (time.perf_counter() - start)


def payloads(raw: list[bytes]) -> list[tuple[bytes, bytes, bytes]]:
    decoded = [UncheckedExtrinsic.decode(r) for r in raw]
    return [
        (
            x.signature.signer,
            signing_payload(
                x.call, x.signature.era, x.signature.nonce, x.signature.tip, 100, 1, GENESIS, GENESIS
            ),
            x.signature.signature,
        )
        for x in decoded
    ]


def raw_ed25519_verify(p):
    nacl.signing.VerifyKey(p[0]).verify(p[1], p[2])


def raw_sr25519_verify(p):
    if not sr25519.verify(p[2], p[1], p[0]):
        raise AssertionError("bad signature")


def decode_and_verify(r):
    xt = UncheckedExtrinsic.decode(r)
    if not verify_extrinsic(xt, 100, 1, GENESIS, GENESIS):
        raise AssertionError("bad signature")


def main() -> None:
    ed_raw = build(N, crypto.dev_keypair("Alice"))
    sr_raw = build(N, crypto.sr25519_dev_keypair("Alice"))
    ed_payloads, sr_payloads = payloads(ed_raw), payloads(sr_raw)
    runs = {
        "raw_verify_per_s": (raw_ed25519_verify, ed_payloads),
        "decode_verify_per_s": (decode_and_verify, ed_raw),
        "decode_only_per_s": (UncheckedExtrinsic.decode, ed_raw),
        "sr25519_raw_verify_per_s": (raw_sr25519_verify, sr_payloads),
        "sr25519_decode_verify_per_s": (decode_and_verify, sr_raw),
    }
    rates: dict[str, list[float]] = {k: [] for k in runs}
    for _ in range(3):  # interleave to share any machine noise fairly
        for name, (fn, items) in runs.items():
            rates[name].append(rate(fn, items))
    best = {k: round(max(v)) for k, v in rates.items()}
    best["ratio_decode_verify_to_raw"] = round(best["decode_verify_per_s"] / best["raw_verify_per_s"], 3)
    best["sr25519_ratio_decode_verify_to_raw"] = round(
        best["sr25519_decode_verify_per_s"] / best["sr25519_raw_verify_per_s"], 3
    )
    best["sr25519_to_ed25519_decode_verify"] = round(
        best["sr25519_decode_verify_per_s"] / best["decode_verify_per_s"], 3
    )
    best["target_ratio"] = 0.7
    best["extrinsics"] = N
    print(json.dumps({"benchmark": "extrinsic_decode_verify", **best}))


if __name__ == "__main__":
    main()
