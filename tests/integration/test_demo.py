"""The README's main command: `gradchain demo` runs the whole market and ends as it says."""

import json
import subprocess
import sys

import pytest

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def test_demo_pays_the_honest_job_trains_a_language_model_and_catches_the_cheater_at_its_step(tmp_path):
    summary = tmp_path / "summary.json"
    out = subprocess.run(
        [sys.executable, "-m", "chain.cli", "demo", "--no-progress", "--json-summary", str(summary)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    result = json.loads(summary.read_text())
    assert result["honest"]["status"] == "FINALIZED" and result["honest"]["accuracy"] > 0.8
    lm = result["language_model"]
    assert lm["status"] == "FINALIZED" and 1.0 < lm["perplexity"] < 6.0
    losses = list(lm["checkpoint_losses"].values())
    assert losses[-1] < 0.6 * losses[0]  # the held-out loss falls from the first checkpoint to the last
    assert lm["sample"].startswith("the cat ") and len(lm["sample"]) > len("the cat ")
    assert result["cheater"]["status"] == "SLASHED"
    assert result["cheater"]["landed_on_step"] == result["cheater"]["cheat_after_step"]
    assert "Demo complete." in out.stdout
