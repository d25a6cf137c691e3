"""Every decoder of untrusted bytes, fed random and mutated inputs, fails only with its typed error, quickly.

Targets (tests/faults/fuzz_targets.py): extrinsics (primitive decode and the runtime's decode_extrinsic),
consensus messages, certificates, evidence and blocks as peers send them, job specs (SCALE and JSON),
dataset blobs and training checkpoints (safetensors). Each input must parse or raise the target's documented
error type within MAX_SECONDS: no other exception, no hang. The committed corpus is replayed too.
"""

import json
import time

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.faults.fuzz_targets import MAX_SECONDS, TARGET_NAMES, corpus, run_one, target

EXAMPLES = 400


def mutations(seeds: list[bytes]) -> st.SearchStrategy[bytes]:
    """Valid inputs with bytes overwritten, inserted, cut or appended: reaches past the first length check."""

    def mutate(args) -> bytes:
        which, flips, inserts, cut, tail = args
        data = bytearray(seeds[which % len(seeds)])
        for pos, value in flips:
            if data:
                data[pos % len(data)] = value
        for pos, chunk in inserts:
            at = pos % (len(data) + 1)
            data[at:at] = chunk
        if cut is not None and data:
            data = data[: cut % len(data)]
        return bytes(data) + tail

    return st.tuples(
        st.integers(0, 64),
        st.lists(st.tuples(st.integers(0, 1 << 20), st.integers(0, 255)), max_size=6),
        st.lists(st.tuples(st.integers(0, 1 << 20), st.binary(min_size=1, max_size=8)), max_size=2),
        st.none() | st.integers(0, 1 << 20),
        st.binary(max_size=8),
    ).map(mutate)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=6),
    max_leaves=20,
)


def json_mutations(seed: bytes) -> st.SearchStrategy[bytes]:
    """The valid spec's JSON object with one field replaced, dropped or added."""
    obj = json.loads(seed)

    def edit(args) -> bytes:
        path_index, value, drop = args
        doc = json.loads(seed)
        node = doc
        keys = []
        while isinstance(node, dict) and node:
            key = sorted(node)[path_index % len(node)]
            keys.append(key)
            if not isinstance(node[key], dict) or path_index % 3 == 0:
                break
            node = node[key]
            path_index //= 2
        if drop:
            node.pop(keys[-1], None)
        else:
            node[keys[-1]] = value
        return json.dumps(doc, allow_nan=True).encode()

    assert isinstance(obj, dict)
    return st.tuples(st.integers(0, 1 << 16), json_values, st.booleans()).map(edit)


def check(name: str, data: bytes) -> None:
    started = time.monotonic()
    run_one(name, data)
    elapsed = time.monotonic() - started
    assert elapsed < MAX_SECONDS, f"{name} took {elapsed:.2f}s on {len(data)} bytes: {data[:64].hex()}"


@pytest.mark.parametrize("name", TARGET_NAMES)
def test_valid_seeds_parse(name):
    for seed in target(name).seeds():
        assert run_one(name, seed) is None, name


@pytest.mark.parametrize("name", TARGET_NAMES)
def test_random_and_mutated_inputs_raise_only_typed_errors(name):
    seeds = target(name).seeds()
    inputs = st.one_of(st.binary(max_size=400), mutations(seeds))
    if name == "jobspec_json":
        inputs = st.one_of(
            inputs, json_mutations(seeds[0]), json_values.map(lambda v: json.dumps(v).encode())
        )

    @settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck), database=None)
    @given(inputs)
    def run(data):
        check(name, data)

    run()


@pytest.mark.parametrize("name", TARGET_NAMES)
def test_committed_corpus_raises_only_typed_errors(name):
    files = corpus(name)
    assert files, f"tests/fuzz_corpus/{name}/ is empty"
    for filename, data in files:
        try:
            check(name, data)
        except AssertionError:
            raise
        except Exception as e:  # noqa: BLE001 - name the corpus file that broke the target
            raise AssertionError(f"{name}/{filename}: {type(e).__name__}: {e}") from e
