# SPDX-License-Identifier: MIT
"""The real SMTP server of the mail tests (scripts/smtp_sink.py, aiosmtpd on
loopback): `from smtp_helpers import smtp_sink  # noqa: F401` gives a test a
started SmtpSink, stopped after it whatever happens."""
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "scripts"))

from smtp_sink import Message, SmtpSink, free_port  # noqa: E402,F401


@pytest.fixture
def smtp_sink():
    """A started SmtpSink on 127.0.0.1 (plain SMTP), stopped after the test."""
    with SmtpSink() as sink:
        yield sink
