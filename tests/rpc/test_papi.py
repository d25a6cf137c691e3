"""polkadot-api 2.x, unchanged, against a gradchain dev node (tests/js/papi.mjs): through its bare WebSocket
provider (no middleware, no compatibility layer) and through the `getWsProvider` its docs use, it connects,
follows finalized blocks, reads System.Account, ComputeMarket.NextJobId and System's constants through the
metadata V15 unsafe API, watches a balance, and sees a transfer signed with sr25519 and one with ed25519
finalized."""

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


@pytest.mark.parametrize("provider", ["raw", "ws"])
def test_polkadot_api_follows_reads_watches_and_sees_both_schemes_finalized(dev_node, provider):
    node = shutil.which("node")
    if node is None:
        _unavailable("Node.js is not installed, so polkadot-api cannot run")
    if not (JS_DIR / "node_modules" / "polkadot-api").is_dir():
        _unavailable(
            "tests/js/node_modules is missing: run `npm ci` in tests/js (.ci/run does when Node is present)"
        )
    run = subprocess.run(
        [node, "papi.mjs", dev_node.ws_url, provider], cwd=JS_DIR, capture_output=True, text=True, timeout=180
    )
    assert run.returncode == 0, (
        f"papi.mjs failed:\n{run.stdout}\n{run.stderr}\n--- node log ---\n{dev_node.log_tail()}"
    )
    for line in (
        "ok - metadata versions 14,15",
        "ok - sr25519 transfer finalized",
        "ok - ed25519 transfer finalized",
        "ok - watched //Bob's balance",
    ):
        assert line in run.stdout
