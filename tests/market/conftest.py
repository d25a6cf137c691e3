"""Fixtures: a fresh market chain per test."""

from __future__ import annotations

from contextlib import contextmanager

import pytest

from tests.market.harness import Market


@pytest.fixture
def market() -> Market:
    return Market()


@contextmanager
def assert_noop(m: Market, error: type[BaseException], match: str | None = None):
    """The body must raise `error` (matching `match`), and leave every storage entry (total issuance
    included) and the event list exactly as they were. Yields pytest's ExceptionInfo."""
    before = m.contents()
    events_before = len(m.executive.env.events)
    with pytest.raises(error, match=match) as raised:
        yield raised
    assert m.contents() == before
    assert len(m.executive.env.events) == events_before
