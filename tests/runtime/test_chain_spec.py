"""Chain specs: one spec, one genesis hash; raw and plain agree; bad fields are named."""

from __future__ import annotations

import copy
import json

import pytest

from runtime.chain_spec import ChainSpecError, load_chain_spec, parse_chain_spec
from runtime.pallets.staking import validator_set
from runtime.version import VERSION, api_id


def test_genesis_hash_is_deterministic():
    assert load_chain_spec("dev").genesis_hash == load_chain_spec("dev").genesis_hash
    assert load_chain_spec("dev").genesis_hash != load_chain_spec("local").genesis_hash


@pytest.mark.parametrize("chain", ["dev", "local"])
def test_raw_and_plain_give_the_same_genesis(chain, tmp_path):
    spec = load_chain_spec(chain)
    path = tmp_path / "raw.json"
    path.write_text(json.dumps(spec.to_raw()))
    assert load_chain_spec(str(path)).genesis_hash == spec.genesis_hash


def test_local_has_four_validators_dev_one():
    assert len(validator_set(load_chain_spec("local").genesis_storage)) == 4
    assert len(validator_set(load_chain_spec("dev").genesis_storage)) == 1


@pytest.mark.parametrize(
    "mutate, field",
    [
        (lambda d: d.update(chainType="Weird"), "chainType"),
        (
            lambda d: d["genesis"]["runtimeGenesis"]["config"]["balances"]["balances"][0].__setitem__(
                0, "nope"
            ),
            "balances.balances[0][0]",
        ),
        (
            lambda d: d["parameters"]["balances"].update(existentialDeposit="1"),
            "parameters.balances.existentialDeposit",
        ),
        (lambda d: d.update(extra=1), "unknown field"),
        (
            lambda d: d["genesis"]["runtimeGenesis"]["config"]["staking"]["stakers"][0].__setitem__(
                1, "0x12"
            ),
            "stakers[0][1]",
        ),
        (lambda d: d.update(chainType="Live"), "sudo"),
    ],
)
def test_invalid_spec_names_the_field(mutate, field):
    doc = copy.deepcopy(load_chain_spec("dev").json)
    mutate(doc)
    with pytest.raises(ChainSpecError, match=field.replace("[", r"\[").replace("]", r"\]")):
        parse_chain_spec(doc)


def test_version_and_api_ids():
    assert api_id("Core").hex() == "df6acb689907609b"
    assert VERSION.spec_version == 100 and VERSION.to_json()["specName"] == "gradchain"


def test_invalid_raw_live_spec_with_a_sudo_key():
    raw = load_chain_spec("dev").to_raw()
    raw["chainType"] = "Live"
    with pytest.raises(ChainSpecError, match="Sudo.Key"):
        parse_chain_spec(raw)
    raw["chainType"] = "Local"
    assert parse_chain_spec(raw).chain_type == "Local"


def test_genesis_hash_is_the_same_in_another_process():
    import os
    import subprocess
    import sys

    script = (
        "from runtime.chain_spec import load_chain_spec as l; print(l('dev').genesis_hash.hex(), "
        "l('local').genesis_hash.hex())"
    )
    out = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        check=True,
        env=dict(os.environ, PYTHONHASHSEED="12345"),
    ).stdout.split()
    assert out == [load_chain_spec("dev").genesis_hash.hex(), load_chain_spec("local").genesis_hash.hex()]
