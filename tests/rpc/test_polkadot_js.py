"""@polkadot/api 16, unchanged, against a gradchain dev node. tests/js/test.mjs connects, reads Alice's
account, sends three transfers in a row from an sr25519 keyring's //Alice, each seen InBlock then Finalized,
a utility.batchAll of two transfers, reads a block's author from the derived header and the validator set from
api.derive.staking.validators and its era points;
tests/js/burst.mjs sends three transfers from //Dave back to back, each nonce read from
system_accountNextIndex (which counts the pool), and waits for all three together."""

from __future__ import annotations

import os
import shutil
import subprocess

import pytest

from tests.rpc.conftest import ROOT

pytestmark = pytest.mark.integration

JS_DIR = ROOT / "tests" / "js"


def _unavailable(reason: str) -> None:
    """Skip on a developer's machine without Node; in CI (CI set, as .ci/run runs) the client must run."""
    if os.environ.get("CI"):
        pytest.fail(f"{reason}; CI installs Node.js, npm and tests/js (.ci/run), so this is a broken install")
    pytest.skip(reason)


def run_js(script: str, dev_node) -> str:
    """Run a tests/js script against the node; returns its stdout, failing the test with both logs if it fails."""
    node = shutil.which("node")
    if node is None or shutil.which("npm") is None:
        _unavailable("Node.js and npm are not installed, so @polkadot/api cannot run")
    if not (JS_DIR / "node_modules" / "@polkadot" / "api").is_dir():
        _unavailable(
            "tests/js/node_modules is missing: run `npm ci` in tests/js (.ci/run does when Node is present)"
        )
    run = subprocess.run(
        [node, script, dev_node.ws_url], cwd=JS_DIR, capture_output=True, text=True, timeout=180
    )
    assert run.returncode == 0, (
        f"{script} failed:\n{run.stdout}\n{run.stderr}\n--- node log ---\n{dev_node.log_tail()}"
    )
    return run.stdout


def test_polkadot_api_transfers_batch_and_block_author(dev_node):
    out = run_js("test.mjs", dev_node)
    assert out.count("ok - transfer") == 6  # finalized, and seen InBlock before that, three times
    assert "ok - both transfers of the batch took effect" in out
    assert "was authored by 5FA9nQDVg267DEd8m1ZypXLBnvN7SFxYwV7ndqSYGiN9TTpu" in out
    validators = "5FA9nQDVg267DEd8m1ZypXLBnvN7SFxYwV7ndqSYGiN9TTpu"
    assert f"ok - derive.staking.validators: validators {validators}, nextElected {validators}" in out
    assert "points, all the dev validator's" in out  # staking.erasRewardPoints: every block's author earned


def test_polkadot_api_back_to_back_transfers_take_consecutive_nonces(dev_node):
    out = run_js("burst.mjs", dev_node)
    assert out.count("ok - transfer with nonce") == 3
    assert "are consecutive" in out and "ok - Eve received" in out
