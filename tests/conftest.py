"""Fixtures of the whole suite; the helpers the tests share are in tests/helpers.py."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture
def run_root(tmp_path: Path) -> Path:
    return tmp_path / "runs"


@pytest.fixture(autouse=True, scope="session")
def one_torch_thread():
    """The networks in unit tests are tiny: one thread avoids oversubscribing a 2-core machine. The allocator
    setting is the one `python -m runner` uses."""
    from runner.host import prepare_host

    prepare_host(torch_threads=1)
