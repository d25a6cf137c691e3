"""Write the committed fuzz corpus (tests/fuzz_corpus/<target>/*.hex): valid inputs and hand-picked edge cases.

Run `python -m tests.faults.make_corpus` to regenerate; test_fuzz_decoders.py replays every file.
"""

from __future__ import annotations

import json
import struct

from chain.primitives.codec import encode_compact
from compute_market.jobspec import MAX_SPEC_BYTES
from tests.faults.fuzz_targets import save, target


def safetensors_blob(header: dict | bytes, data: bytes = b"", header_len: int | None = None) -> bytes:
    raw = header if isinstance(header, bytes) else json.dumps(header).encode()
    return struct.pack("<Q", len(raw) if header_len is None else header_len) + raw + data


def extrinsic_cases(seeds: list[bytes]) -> dict[str, bytes]:
    signed, unsigned = seeds
    body = signed[2:]  # the signed seed's length prefix is two bytes
    return {
        "valid_signed": signed,
        "valid_unsigned": unsigned,
        "empty": b"",
        "zero_length": b"\x00",
        "huge_length_prefix": b"\x13" + b"\xff" * 8 + b"\x84",
        "length_mismatch": encode_compact(len(body) + 1) + body,
        "version_5": encode_compact(len(body)) + b"\x85" + body[1:],
        "address_index_variant": encode_compact(len(body)) + body[:1] + b"\x01" + body[2:],
        "signature_variant_9": encode_compact(len(body)) + body[:34] + b"\x09" + body[35:],
        "truncated_signature": encode_compact(40) + body[:40],
        "unknown_pallet": encode_compact(3) + b"\x04\xff\x00",
        "one_byte_call": encode_compact(2) + b"\x04\x02",
        "transfer_args_truncated": encode_compact(len(unsigned) - 3) + unsigned[1:-2],
    }


def main() -> None:
    for name in ("extrinsic", "runtime_extrinsic"):
        for label, data in extrinsic_cases(target(name).seeds()).items():
            save(name, label, data)

    proposal, vote = target("consensus_message").seeds()
    for label, data in {
        "valid_proposal": proposal,
        "valid_vote": vote,
        "empty": b"",
        "unknown_tag": b"\x02" + vote[1:],
        "vote_type_3": b"\x01\x03" + vote[2:],
        "vote_truncated": vote[:-1],
        "vote_trailing": vote + b"\x00",
        "proposal_huge_block_length": proposal[:60] + b"\x13" + b"\xff" * 8,
        "vote_bad_option_tag": vote[:14] + b"\x07" + vote[15:],
    }.items():
        save("consensus_message", label, data)

    (cert,) = target("certificate").seeds()
    for label, data in {
        "valid": cert,
        "empty": b"",
        "huge_signer_count": cert[:44] + b"\x13" + b"\xff" * 8,
        "zero_signers": cert[:44] + b"\x00",
        "trailing": cert + b"\x01",
    }.items():
        save("certificate", label, data)

    (evidence,) = target("evidence").seeds()
    for label, data in {
        "valid": evidence,
        "empty": b"",
        "truncated": evidence[:-7],
        "same_vote_twice": evidence[: len(evidence) // 2] * 2,
    }.items():
        save("evidence", label, data)

    full, empty_body = target("block").seeds()
    header_len = len(empty_body) - 1
    for label, data in {
        "valid": full,
        "valid_no_extrinsics": empty_body,
        "empty": b"",
        "huge_extrinsic_count": empty_body[:-1] + b"\x13" + b"\xff" * 8,
        "huge_digest_count": empty_body[:98] + b"\x13" + b"\xff" * 8,
        "extrinsic_length_past_end": empty_body[:-1] + b"\x04\xfc\xff\xff\x00",
        "truncated_header": full[: header_len - 3],
    }.items():
        save("block", label, data)

    (spec,) = target("jobspec_scale").seeds()
    for label, data in {
        "valid": spec,
        "empty": b"",
        "version_2": b"\x02" + spec[1:],
        "trailing": spec + b"\x00",
        "unknown_model_variant": spec[:1] + b"\x09" + spec[2:],
        "truncated": spec[:-4],
        "oversize": spec + bytes(MAX_SPEC_BYTES),
    }.items():
        save("jobspec_scale", label, data)

    (spec_json,) = target("jobspec_json").seeds()
    doc = json.loads(spec_json)
    cases = {
        "valid": spec_json,
        "empty": b"",
        "not_utf8": b"\xff\xfe{}",
        "array": b"[]",
        "deep_nesting": b"[" * 20_000,
        "nan": spec_json.replace(b'"steps":4', b'"steps":NaN'),
        "infinity_lr": spec_json.replace(b'"lr":0.1', b'"lr":Infinity'),
        "huge_int": spec_json.replace(b'"steps":4', b'"steps":' + b"9" * 5000),
        "duplicate_key": spec_json[:-1] + b',"steps":5}',
        "bool_as_int": spec_json.replace(b'"steps":4', b'"steps":true'),
        "float_steps": spec_json.replace(b'"steps":4', b'"steps":4.0'),
        "extra_field": json.dumps({**doc, "code": "import os"}).encode(),
    }
    for label, data in cases.items():
        save("jobspec_json", label, data)

    for name in ("dataset", "checkpoint"):
        (valid,) = target(name).seeds()
        (hlen,) = struct.unpack("<Q", valid[:8])
        header = json.loads(valid[8 : 8 + hlen])
        first = next(k for k in header if k != "__metadata__")
        overlapping = {**header, first: {**header[first], "data_offsets": [0, 10**12]}}
        wrong_dtype = {**header, first: {**header[first], "dtype": "F64"}}
        cases = {
            "valid": valid,
            "empty": b"",
            "header_length_2_63": safetensors_blob(b"{}", header_len=1 << 63),
            "header_length_past_end": safetensors_blob(b"{}", header_len=1000),
            "header_not_json": safetensors_blob(b"{not json"),
            "no_tensors": safetensors_blob({}),
            "offsets_past_end": safetensors_blob(overlapping, valid[8 + hlen :]),
            "wrong_dtype": safetensors_blob(wrong_dtype, valid[8 + hlen :]),
            "huge_shape": safetensors_blob(
                {"x": {"dtype": "F32", "shape": [1 << 40, 1 << 40], "data_offsets": [0, 4]}}, b"\x00" * 4
            ),
            "truncated": valid[:-5],
        }
        for label, data in cases.items():
            save(name, label, data)


if __name__ == "__main__":
    main()
