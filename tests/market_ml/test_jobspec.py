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
    AdamSpec,
    AdamWSpec,
    CnnSpec,
    ConstantSchedule,
    CosineSchedule,
    DeterminismProfile,
    JobSpec,
    JobSpecError,
    LinearSchedule,
    MlpSpec,
    OneCycleSchedule,
    SgdSpec,
    SpecDecodeError,
    StepSchedule,
    TrainingOptions,
    TransformerSpec,
    default_checkpoint_interval,
)

MODELS = [
    MlpSpec(64, (32, 16), 10),
    CnnSpec(1, 8, (4, 8), 3, 32, 10),
    TransformerSpec(8, 16, 32, 4, 2, 64, 8),
]
OPTIMIZERS = [
    SgdSpec(0.1, 0.9, 1e-4),
    AdamWSpec(3e-4, 0.9, 0.999, 1e-8, 0.01),
    AdamSpec(1e-3, 0.8, 0.99, 1e-6, 0.001),
]
SCHEDULES = [
    ConstantSchedule(),
    CosineSchedule(0.1, 10),
    StepSchedule(25, 0.5),
    LinearSchedule(0.05, 5),
    OneCycleSchedule(0.3, 25.0, 1e4),
]


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


def test_scale_layout_of_training_options_is_pinned():
    plain = make_spec()
    spec = make_spec(training=TrainingOptions(max_grad_norm=0.5, label_smoothing=0.25))
    assert spec.encode() == plain.encode() + b"\x01" + bytes.fromhex("000000000000e03f000000000000d03f")
    assert make_spec(training=TrainingOptions()).encode() == plain.encode()  # all off: absent
    assert JobSpec.decode(spec.encode()) == spec and JobSpec.decode(plain.encode()).training.is_default


def test_scale_layout_of_new_variants_is_pinned():
    adam = AdamSpec(0.5, 0.0, 0.0, 1.0, 0.0)
    assert adam.encode() == b"\x02" + bytes.fromhex("000000000000e03f") + bytes(16) + bytes.fromhex(
        "000000000000f03f"
    ) + bytes(8)
    assert LinearSchedule(0.5, 3).encode() == b"\x03" + bytes.fromhex("000000000000e03f") + (3).to_bytes(
        4, "little"
    )
    assert OneCycleSchedule(0.5, 1.0, 2.0).encode() == b"\x04" + bytes.fromhex(
        "000000000000e03f000000000000f03f0000000000000040"
    )


def test_invalid_training_options_in_scale_are_typed():
    plain = make_spec().encode()
    with pytest.raises(SpecDecodeError, match="non-canonical"):
        JobSpec.decode(plain + TrainingOptions().encode())  # present, yet all off
    with pytest.raises(SpecDecodeError) as err:
        JobSpec.decode(plain + b"\x02" + bytes(16))
    assert err.value.field == "training.version"
    with pytest.raises(SpecDecodeError):
        JobSpec.decode(plain + b"\x01" + bytes(15))  # truncated
    with pytest.raises(JobSpecError) as err:
        JobSpec.decode(plain + b"\x01" + bytes(8) + bytes.fromhex("000000000000f03f"))
    assert err.value.field == "training.label_smoothing"


def test_training_options_json_may_leave_options_out():
    obj = json.loads(make_spec().to_json())
    assert "training" not in obj  # all off: the canonical JSON leaves the object out
    obj["training"] = {"label_smoothing": 0.1}
    spec = JobSpec.from_json(json.dumps(obj))
    assert spec.training == TrainingOptions(max_grad_norm=0.0, label_smoothing=0.1)
    assert json.loads(spec.to_json())["training"] == {"label_smoothing": 0.1, "max_grad_norm": 0.0}
    obj["training"] = {}
    assert JobSpec.from_json(json.dumps(obj)) == make_spec()


@pytest.mark.parametrize(
    ("edit", "field", "message"),
    [
        ({"training": {"max_grad_norm": -1.0}}, "training.max_grad_norm", "outside the allowed range [0.0"),
        ({"training": {"max_grad_norm": 2e6}}, "training.max_grad_norm", "outside the allowed range"),
        ({"training": {"max_grad_norm": "1"}}, "training.max_grad_norm", "expected a number"),
        ({"training": {"label_smoothing": 1.0}}, "training.label_smoothing", "range [0.0, 1.0)"),
        ({"training": {"label_smoothing": -0.1}}, "training.label_smoothing", "range [0.0, 1.0)"),
        ({"training": {"dropout": 0.1}}, "training.dropout", "unknown field"),
        ({"training": [1]}, "training", "expected an object"),
        (
            {"optimizer": {**AdamSpec(1e-3, 0.9, 0.999, 1e-8, 0.0).to_obj(), "beta1": 1.0}},
            "optimizer.beta1",
            "range",
        ),
        (
            {"optimizer": {**AdamSpec(1e-3, 0.9, 0.999, 1e-8, 0.0).to_obj(), "eps": 0.0}},
            "optimizer.eps",
            "range",
        ),
        ({"optimizer": {"kind": "adam", "lr": 1e-3}}, "optimizer.beta1", "missing field"),
        (
            {"schedule": {"kind": "linear", "min_lr_ratio": 1.5, "warmup_steps": 0}},
            "schedule.min_lr_ratio",
            "range",
        ),
        (
            {"schedule": {"kind": "linear", "min_lr_ratio": 0.0, "warmup_steps": 101}},
            "schedule.warmup_steps",
            "exceeds steps=100",
        ),
        (
            {"schedule": {**OneCycleSchedule(0.3, 25.0, 1e4).to_obj(), "pct_start": 0.0}},
            "schedule.pct_start",
            "range (0.0, 1.0)",
        ),
        (
            {"schedule": {**OneCycleSchedule(0.3, 25.0, 1e4).to_obj(), "pct_start": 1.0}},
            "schedule.pct_start",
            "range (0.0, 1.0)",
        ),
        (
            {"schedule": {**OneCycleSchedule(0.3, 25.0, 1e4).to_obj(), "pct_start": 0.01}},
            "schedule.pct_start",
            "leaves a phase",
        ),
        (
            {"schedule": {**OneCycleSchedule(0.3, 25.0, 1e4).to_obj(), "div_factor": 0.5}},
            "schedule.div_factor",
            "range [1.0",
        ),
        (
            {"schedule": {**OneCycleSchedule(0.3, 25.0, 1e4).to_obj(), "final_div_factor": 2e9}},
            "schedule.final_div_factor",
            "range",
        ),
    ],
)
def test_invalid_training_option_json_names_the_field(edit, field, message):
    obj = {**json.loads(make_spec().to_json()), **edit}
    with pytest.raises(JobSpecError) as err:
        JobSpec.from_json(json.dumps(obj))
    assert err.value.field == field
    assert message in str(err.value)


def test_invalid_training_options_construction_names_the_field():
    with pytest.raises(JobSpecError) as err:
        TrainingOptions(label_smoothing=1.0)
    assert err.value.field == "label_smoothing"
    with pytest.raises(JobSpecError) as err:
        make_spec(training="clip")
    assert err.value.field == "training"


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
    lin = make_spec(schedule=LinearSchedule(0.2, 10), optimizer=SgdSpec(1.0, 0.0, 0.0))
    assert [lin.learning_rate(s) for s in (1, 10, 11)] == [0.1, 1.0, 1.0]
    assert lin.learning_rate(56) == pytest.approx(0.6, rel=1e-15)  # half way: 0.2 + 0.8 * 0.5
    assert lin.learning_rate(100) == pytest.approx(0.2 + 0.8 / 90)


@pytest.mark.parametrize(
    ("steps", "pct_start", "div", "final"), [(100, 0.3, 25.0, 1e4), (7, 0.5, 10.0, 100.0)]
)
def test_one_cycle_matches_torch_one_cycle_lr(steps, pct_start, div, final):
    import torch

    spec = make_spec(
        schedule=OneCycleSchedule(pct_start, div, final),
        optimizer=SgdSpec(0.4, 0.0, 0.0),
        steps=steps,
        checkpoint_interval=1,
    )
    p = torch.nn.Parameter(torch.zeros(1))
    sgd = torch.optim.SGD([p], lr=0.4)
    sched = torch.optim.lr_scheduler.OneCycleLR(
        sgd,
        max_lr=0.4,
        total_steps=steps,
        pct_start=pct_start,
        div_factor=div,
        final_div_factor=final,
        cycle_momentum=False,
    )
    for step in range(1, steps + 1):
        assert spec.learning_rate(step) == pytest.approx(sgd.param_groups[0]["lr"], rel=1e-14, abs=1e-15)
        sgd.step()
        sched.step()
    assert spec.learning_rate(steps) == pytest.approx(0.4 / div / final, rel=1e-15)


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
