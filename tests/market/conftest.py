"""Fixtures: a fresh market chain per test."""

from __future__ import annotations

from contextlib import contextmanager

import pytest

from tests.market.harness import Market


@pytest.fixture
def market() -> Market:
    return Market()


@contextmanager
def assert_noop(m: Market):
    """The body must raise, and leave every storage entry and the event list exactly as they were."""
    before = m.contents()
    events_before = len(m.executive.env.events)
    yield
    assert m.contents() == before
    assert len(m.executive.env.events) == events_before
