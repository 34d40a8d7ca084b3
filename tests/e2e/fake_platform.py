# SPDX-License-Identifier: MIT
"""The platform simulator (scripts/platform_sim.py) for lethe's e2e tests.

The simulator lives in scripts/ because `make run` starts it too; its
docstring is the API.  This module re-exports it and adds the pytest fixture:
`from fake_platform import fake_platform  # noqa: F401` in a test module gives
tests a started FakePlatform that is stopped after the test whatever happens.
"""
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "scripts"))

from platform_sim import (  # noqa: E402,F401
    ALREADY,
    API_VERSION,
    CLIENT_IDS,
    GRAPH_190,
    PLATFORMS,
    REJECT,
    REQUIRED,
    SECRETS,
    Call,
    FakePlatform,
    call_line,
)


@pytest.fixture
def fake_platform():
    """A started FakePlatform, stopped after the test."""
    with FakePlatform() as fake:
        yield fake
