"""Fixtures shared by the sercore tests."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.sercore.synthetic_fixtures import prepared_and_model


@pytest.fixture(scope="session")
def prepared(cache_dir: Path):
    """(data, model) of tests/sercore/synthetic_fixtures.py, built once per session."""
    return prepared_and_model(cache_dir)
