"""@polkadot/api 16, unchanged, against a gradchain dev node: tests/js/test.mjs connects, reads Alice's
account, sends three transfers in a row from //Alice (ed25519) and waits for each to be finalized."""

from __future__ import annotations

import shutil
import subprocess

import pytest

from tests.rpc.conftest import ROOT

pytestmark = pytest.mark.integration

JS_DIR = ROOT / "tests" / "js"


def test_polkadot_api_transfers_are_finalized(dev_node):
    node = shutil.which("node")
    if node is None or shutil.which("npm") is None:
        pytest.skip("Node.js and npm are not installed, so @polkadot/api cannot run")
    if not (JS_DIR / "node_modules" / "@polkadot" / "api").is_dir():
        pytest.skip("tests/js/node_modules is missing: run `npm ci` in tests/js (.ci/run does when Node is present)")
    run = subprocess.run([node, "test.mjs", dev_node.ws_url], cwd=JS_DIR, capture_output=True, text=True,
                         timeout=180)
    assert run.returncode == 0, f"test.mjs failed:\n{run.stdout}\n{run.stderr}\n--- node log ---\n{dev_node.log_tail()}"
    assert run.stdout.count("ok - transfer") == 3
