"""One adversarial dev chain for the whole package: its node, referee, verifier and whistleblower processes
start once; each test runs its own job (and its own solver) on it, and measures balances over its job's span."""

import pytest

from tests.adversarial.harness import Market


@pytest.fixture(scope="package")
def market(tmp_path_factory):
    with Market(tmp_path_factory.mktemp("adversarial")) as m:
        yield m
