"""Validators killed with SIGKILL at random moments under load: nothing lost, nothing forked, nothing signed twice."""

import pytest

from tests.faults.crash_loop import run_crash_loop

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def test_crash_loop_loses_nothing_forks_nothing_and_never_double_signs(tmp_path):
    result = run_crash_loop(tmp_path, rounds=8, seed=8)
    summary = result.summary()
    assert result.rounds == 8 and result.faults_injected == 8
    assert len(result.finalized) > 20, summary  # the load really ran through the faults
    assert not result.lost, [s.tx_hash.hex() for s in result.lost]
    assert not result.misplaced, [(s.tx_hash.hex(), s.block_number) for s in result.misplaced]
    assert not result.duplicate_inclusions, result.duplicate_inclusions
    assert not result.offences, result.offences
    assert not result.bad_certificates, result.bad_certificates
    assert result.databases_checked == 4, result.database_errors
