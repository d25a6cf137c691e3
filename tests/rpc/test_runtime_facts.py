"""Runtime facts clients read, in process: `:code` identifies the runtime and changes with its version, and
System's block-limit constants, decoded by scalecodec (py-substrate-interface's decoder) from metadata V14,
are the limits the executive enforces."""

from __future__ import annotations

import dataclasses

import pytest
from scalecodec.base import RuntimeConfigurationObject, ScaleBytes
from scalecodec.type_registry import load_type_registry_preset

from chain.client import transfer_call
from runtime import validity as v
from runtime.executive import Executive, Runtime
from runtime.metadata import CODE_KEY, metadata_bytes, runtime_code
from runtime.pallets.system import SystemConfig
from runtime.version import VERSION
from tests.runtime.conftest import ALICE, BOB, make_ext


def system_constants(configs) -> dict:  # noqa: ANN001
    """System's constants decoded the way py-substrate-interface's `get_constant` decodes them."""
    rc = RuntimeConfigurationObject()
    rc.update_type_registry(load_type_registry_preset("core"))
    rc.update_type_registry(load_type_registry_preset("legacy"))
    metadata = rc.create_scale_object("MetadataVersioned", data=ScaleBytes(metadata_bytes(configs)))
    metadata.decode()
    rc.add_portable_registry(metadata)
    return {
        constant.name: rc.create_scale_object(
            constant.type, data=ScaleBytes(constant.constant_value)
        ).decode()
        for constant in metadata.get_metadata_pallet("System")["constants"]
    }


def test_code_is_written_at_genesis_and_starts_with_the_runtime_version():
    t = make_ext()
    code = t.spec.genesis_storage[CODE_KEY]
    assert code == runtime_code(t.runtime.configs) and code.startswith(VERSION.encode())


def test_code_changes_whenever_spec_version_does():
    t = make_ext()
    upgraded = dataclasses.replace(VERSION, spec_version=VERSION.spec_version + 1)
    assert runtime_code(t.runtime.configs, upgraded) != runtime_code(t.runtime.configs)


def test_the_first_block_another_runtime_executes_rewrites_code():
    t = make_ext()
    upgraded = dataclasses.replace(VERSION, spec_version=VERSION.spec_version + 1)
    t.runtime = Runtime(t.runtime.configs, t.runtime.genesis_hash, upgraded)
    t.produce_block()
    assert t.chain.backend.get(CODE_KEY) == runtime_code(t.runtime.configs, upgraded)
    before = dict(t.chain.backend.entries)
    t.produce_block()
    assert t.chain.backend.get(CODE_KEY) == before[CODE_KEY]


def test_system_constants_decode_with_substrate_types():
    constants = system_constants(make_ext().runtime.configs)
    assert list(constants) == [
        "BlockWeights",
        "BlockLength",
        "BlockHashCount",
        "DbWeight",
        "Version",
        "SS58Prefix",
    ]
    assert constants["Version"]["spec_name"] == VERSION.spec_name
    assert constants["Version"]["spec_version"] == VERSION.spec_version
    assert constants["DbWeight"] == {"read": 0, "write": 0}


def _limits(t) -> tuple[int, int]:  # noqa: ANN001
    """The normal class's weight and length limits as System's constants declare them."""
    constants = system_constants(t.runtime.configs)
    return (
        constants["BlockWeights"]["per_class"]["normal"]["max_total"]["ref_time"],
        constants["BlockLength"]["max"]["normal"],
    )


def test_block_limit_constants_are_the_limits_the_executive_enforces():
    t = make_ext()
    cfg: SystemConfig = t.runtime.configs[SystemConfig]
    max_weight, max_length = _limits(t)
    assert max_weight == cfg.max_block_weight * cfg.normal_ratio_percent // 100
    assert max_length == cfg.max_block_length * cfg.normal_ratio_percent // 100
    constants = system_constants(t.runtime.configs)
    assert constants["BlockWeights"]["max_block"]["ref_time"] == cfg.max_block_weight
    assert constants["BlockLength"]["max"]["operational"] == cfg.max_block_length
    # a configuration whose normal share is smaller than one transfer's length: the executive refuses it
    raw = t.signed(ALICE, transfer_call(BOB.public, 10**12), 0)
    tight = dataclasses.replace(cfg, max_block_length=len(raw) * 100 // cfg.normal_ratio_percent - 1)
    configs = {**t.runtime.configs, SystemConfig: tight}
    assert system_constants(configs)["BlockLength"]["max"]["normal"] < len(raw)
    ex = Executive(Runtime(configs, t.runtime.genesis_hash), t.chain.overlay())
    with pytest.raises(v.ExhaustsResources):
        ex.validate_transaction(v.TransactionSource.EXTERNAL, raw, t.head_hash)
