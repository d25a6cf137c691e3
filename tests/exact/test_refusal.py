"""Environments exact mode cannot trust are refused before any stake is at risk: the trainer, the
verifier's replay and the referee's recompute refuse them, a worker does not start, and a referee on such
a machine abstains instead of voting."""

from __future__ import annotations

import logging

import pytest
import torch
from click.testing import CliRunner

from chain.cli import main
from compute_market.worker import selftest
from compute_market.worker.roles import Referee
from compute_market.worker.trainer import EnvironmentRefused, Trainer, recompute_step, replay_segment


@pytest.fixture
def cuda_build(monkeypatch):
    monkeypatch.setattr(torch, "__version__", "2.13.0+cu130")


@pytest.fixture
def job():
    return selftest.reference_jobs()["mlp-sgd-constant"]


def test_invalid_torch_build_tag_is_refused_by_every_role(cuda_build, job):
    spec, ds = job
    for run in (
        lambda: Trainer(spec, ds),
        lambda: replay_segment(spec, ds, None, 3),
        lambda: recompute_step(spec, ds, None),
    ):
        with pytest.raises(EnvironmentRefused, match=r"pins torch 2\.13\.0\+cpu.*2\.13\.0\+cu130"):
            run()


@pytest.mark.parametrize("role", ["solver", "verifier", "whistleblower", "referee"])
def test_invalid_environment_stops_a_worker_before_it_starts(cuda_build, role, tmp_path):
    result = CliRunner().invoke(
        main, ["worker", role, "--key", "//Dave", "--node", "127.0.0.1:1", "--state-dir", str(tmp_path)]
    )
    assert result.exit_code != 0
    assert f"cannot act as a {role}" in result.output and "2.13.0+cu130" in result.output


class _Dispute:
    id, kind, lo, lo_hash = 7, "STEP", 0, bytes(32)


def test_a_referee_that_cannot_run_exact_mode_abstains(cuda_build, job, caplog):
    spec, ds = job
    referee = object.__new__(Referee)
    referee.context = lambda _job: type("Ctx", (), {"spec": spec, "dataset": ds})()
    with caplog.at_level(logging.ERROR):
        assert referee.recompute(None, _Dispute(), now_ms=0) is None
    assert "not voting" in caplog.text
