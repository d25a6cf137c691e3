"""Job specs: one canonical SCALE and JSON form, strict schema errors naming the field, fuzz-safe decode."""

from __future__ import annotations

import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from chain.primitives.codec import DecodeError
from chain.primitives.hashing import blake2_256
from compute_market.jobspec import (
    DEFAULT_SEGMENTS,
    MAX_SPEC_BYTES,
    AdamWSpec,
    CnnSpec,
    ConstantSchedule,
    CosineSchedule,
    DeterminismProfile,
    JobSpec,
    JobSpecError,
    MlpSpec,
    SgdSpec,
    SpecDecodeError,
    StepSchedule,
    TransformerSpec,
    default_checkpoint_interval,
)

MODELS = [
    MlpSpec(64, (32, 16), 10),
    CnnSpec(1, 8, (4, 8), 3, 32, 10),
    TransformerSpec(8, 16, 32, 4, 2, 64, 8),
]
OPTIMIZERS = [SgdSpec(0.1, 0.9, 1e-4), AdamWSpec(3e-4, 0.9, 0.999, 1e-8, 0.01)]
SCHEDULES = [ConstantSchedule(), CosineSchedule(0.1, 10), StepSchedule(25, 0.5)]


def make_spec(model=MODELS[0], optimizer=OPTIMIZERS[1], schedule=SCHEDULES[1], **kw) -> JobSpec:
    args = dict(dataset_hash=bytes(range(32)), batch_size=32, steps=100, seed=7, checkpoint_interval=10)
    args.update(kw)
    return JobSpec(model, optimizer=optimizer, schedule=schedule, **args)


@pytest.mark.parametrize("model", MODELS, ids=lambda m: m.KIND)
@pytest.mark.parametrize("optimizer", OPTIMIZERS, ids=lambda o: o.KIND)
@pytest.mark.parametrize("schedule", SCHEDULES, ids=lambda s: s.KIND)
def test_scale_and_json_round_trip(model, optimizer, schedule):
    spec = make_spec(model, optimizer, schedule)
    encoded = spec.encode()
    assert JobSpec.decode(encoded) == spec
    assert JobSpec.from_json(spec.to_json()) == spec
    assert JobSpec.from_json(spec.to_json()).encode() == encoded
    assert spec.spec_hash == blake2_256(encoded)
    assert len(encoded) <= MAX_SPEC_BYTES


def test_scale_layout_is_pinned():
    spec = make_spec(
        MlpSpec(2, (3,), 4),
        SgdSpec(0.5, 0.0, 0.0),
        ConstantSchedule(),
        seed=1,
        steps=9,
        batch_size=5,
        checkpoint_interval=3,
    )
    expected = (
        b"\x01"
        + b"\x00"
        + (2).to_bytes(4, "little")
        + b"\x04"
        + (3).to_bytes(4, "little")
        + (4).to_bytes(4, "little")
        + bytes(range(32))
        + b"\x00"
        + bytes.fromhex("000000000000e03f")
        + bytes(8)
        + bytes(8)
        + b"\x00"
        + (5).to_bytes(4, "little")
        + (9).to_bytes(4, "little")
        + (1).to_bytes(8, "little")
        + (3).to_bytes(4, "little")
        + bytes([len("2.13.0+cpu") << 2])
        + b"2.13.0+cpu"
        + bytes([len("gradchain-exact") << 2])
        + b"gradchain-exact"
        + (3).to_bytes(4, "little")  # KERNELS_VERSION
    )
    assert spec.encode() == expected


def test_json_is_canonical_and_floats_exact():
    spec = make_spec(optimizer=AdamWSpec(0.1 + 0.2, 0.9, 0.999, 1e-8, 0.0))
    obj = json.loads(spec.to_json())
    assert obj["optimizer"]["lr"] == 0.1 + 0.2
    assert spec.to_json() == json.dumps(obj, sort_keys=True, separators=(",", ":"))


def test_negative_zero_is_normalised_and_rejected_when_encoded():
    spec = make_spec(optimizer=SgdSpec(0.1, -0.0, 0.0))
    assert str(spec.optimizer.momentum) == "0.0"
    bad = bytearray(spec.encode())
    at = bad.index(spec.optimizer.encode()) + 1 + 8 + 7
    bad[at] = 0x80
    with pytest.raises(SpecDecodeError, match="non-canonical"):
        JobSpec.decode(bytes(bad))


def test_checkpoint_count_and_learning_rates():
    assert make_spec(steps=100, checkpoint_interval=10).checkpoint_count == 10
    assert make_spec(steps=101, checkpoint_interval=10).checkpoint_count == 11
    step = make_spec(schedule=StepSchedule(10, 0.5), optimizer=SgdSpec(1.0, 0.0, 0.0))
    assert [step.learning_rate(s) for s in (1, 10, 11, 21)] == [1.0, 1.0, 0.5, 0.25]
    cos = make_spec(schedule=CosineSchedule(0.0, 10), optimizer=SgdSpec(1.0, 0.0, 0.0))
    assert cos.learning_rate(1) == 0.1 and cos.learning_rate(11) == 1.0 and cos.learning_rate(100) < 1e-3


def mutate_json(path: list[str], value) -> str:
    obj = json.loads(make_spec().to_json())
    target = obj
    for key in path[:-1]:
        target = target[key]
    if value is KeyError:
        del target[path[-1]]
    else:
        target[path[-1]] = value
    return json.dumps(obj)


@pytest.mark.parametrize(
    ("path", "value", "field", "message"),
    [
        (["model", "hidden"], [32, 0], "model.hidden[1]", "outside the allowed range 1..4096"),
        (["model", "extra"], 1, "model.extra", "unknown field"),
        (["surprise"], 1, "surprise", "unknown field"),
        (["model", "input_dim"], KeyError, "model.input_dim", "missing field"),
        (["model", "input_dim"], "64", "model.input_dim", "expected an integer, got str"),
        (["model", "input_dim"], True, "model.input_dim", "expected an integer, got bool"),
        (["model", "kind"], "rnn", "model.kind", "'rnn' is not one of mlp, cnn, transformer"),
        (["optimizer", "lr"], 0.0, "optimizer.lr", "outside the allowed range (0.0, 10.0]"),
        (["optimizer", "beta1"], "0.9", "optimizer.beta1", "expected a number"),
        (["steps"], 2_000_000, "steps", "outside the allowed range 1..1000000"),
        (["checkpoint_interval"], 101, "checkpoint_interval", "exceeds steps=100"),
        (["seed"], -1, "seed", "outside the allowed range"),
        (["dataset_hash"], "0x12", "dataset_hash", "64 hex digits"),
        (["determinism", "torch_version"], "2.1.0", "determinism.torch_version", "not one of the supported"),
        (["determinism", "torch_version"], "2.13.0", "determinism.torch_version", "not one of the supported"),
        (
            ["determinism", "torch_version"],
            "2.13.0+cu130",
            "determinism.torch_version",
            "not one of the supported",
        ),
        (["determinism", "kernels"], "mkl", "determinism.kernels", "not the supported kernel set"),
        (
            ["determinism", "kernels_version"],
            1,
            "determinism.kernels_version",
            "not the supported kernel version",
        ),
        (["version"], 2, "version", "unsupported spec version"),
        (["schedule", "warmup_steps"], 500, "schedule.warmup_steps", "exceeds steps=100"),
    ],
)
def test_invalid_json_names_the_field(path, value, field, message):
    with pytest.raises(JobSpecError) as err:
        JobSpec.from_json(mutate_json(path, value))
    assert err.value.field == field
    assert message in str(err.value)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('{"a": 1, "a": 2}', "duplicate field"),
        ('{"x": NaN}', "NaN is not a JSON number"),
        ("[1]", "a spec is a JSON object"),
        ("{", "invalid JSON"),
        (b"\xff", "not valid UTF-8"),
        ("1" * 20000, "exceed the JSON spec cap"),
    ],
)
def test_invalid_json_text_raises_typed_error(text, message):
    with pytest.raises(JobSpecError, match=message):
        JobSpec.from_json(text)


@pytest.mark.parametrize(
    ("build", "field"),
    [
        (lambda: CnnSpec(1, 6, (4, 8), 3, 32, 10), "image_size"),
        (lambda: CnnSpec(1, 8, (4,), 2, 32, 10), "kernel_size"),
        (lambda: TransformerSpec(8, 16, 30, 4, 2, 64, 8), "d_model"),
        (lambda: make_spec(model=MlpSpec(4096, (4096, 4096), 10)), "model"),
        (lambda: make_spec(dataset_hash=b"short"), "dataset_hash"),
        (lambda: DeterminismProfile(kernels_version=1), "kernels_version"),
    ],
)
def test_invalid_construction_names_the_field(build, field):
    with pytest.raises(JobSpecError) as err:
        build()
    assert err.value.field == field


def test_invalid_scale_is_typed():
    good = make_spec().encode()
    for bad in (b"", b"\x02" + good[1:], good + b"\x00", good[:-1], b"\x01\x07", bytes(MAX_SPEC_BYTES + 1)):
        with pytest.raises(SpecDecodeError):
            JobSpec.decode(bad)
    assert issubclass(SpecDecodeError, DecodeError) and issubclass(SpecDecodeError, JobSpecError)


@settings(max_examples=10_000, suppress_health_check=list(HealthCheck), deadline=None)
@given(st.binary(max_size=200))
def test_decode_of_arbitrary_bytes_raises_only_jobspec_error(data):
    try:
        spec = JobSpec.decode(data)
    except JobSpecError:
        return
    assert spec.encode() == data


VALID = [make_spec(m, o, s).encode() for m in MODELS for o in OPTIMIZERS for s in SCHEDULES]


@settings(max_examples=3_000, suppress_health_check=list(HealthCheck), deadline=None)
@given(
    st.sampled_from(VALID),
    st.lists(st.tuples(st.integers(0, 10_000), st.integers(0, 255)), min_size=1, max_size=4),
    st.integers(-3, 3),
)
def test_decode_of_mutated_specs_raises_only_jobspec_error(base, edits, resize):
    data = bytearray(base)
    for at, byte in edits:
        data[at % len(data)] = byte
    data = data[: len(data) + resize] if resize < 0 else data + bytes(resize)
    try:
        spec = JobSpec.decode(bytes(data))
    except JobSpecError:
        return
    assert spec.encode() == bytes(data)


def without_interval(steps) -> str:
    obj = json.loads(make_spec().to_json())
    del obj["checkpoint_interval"]
    obj["steps"] = steps
    obj["schedule"] = {"kind": "constant"}
    return json.dumps(obj)


@pytest.mark.parametrize(("steps", "interval"), [(1, 1), (31, 1), (32, 1), (33, 2), (100, 4), (1000, 32)])
def test_checkpoint_interval_left_out_defaults_to_32_segments(steps, interval):
    spec = JobSpec.from_json(without_interval(steps))
    assert spec.checkpoint_interval == interval == default_checkpoint_interval(steps)
    assert spec.checkpoint_count <= DEFAULT_SEGMENTS
    assert JobSpec.from_json(spec.to_json()) == spec  # the canonical JSON names the interval


def test_checkpoint_interval_left_out_with_bad_steps_names_steps():
    with pytest.raises(JobSpecError) as err:
        JobSpec.from_json(without_interval("100"))
    assert err.value.field == "steps"
