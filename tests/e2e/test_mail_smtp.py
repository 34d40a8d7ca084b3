# SPDX-License-Identifier: MIT
"""The mail library (src/mail/) against a real SMTP server, over loopback.

Each test runs tests/unit/mail_probe (mail_build() and mail_smtp_send() of
lethe's library, built next to the lethe binary under test) with a `mail:`
section against scripts/smtp_sink.py (aiosmtpd) and checks both sides:
what the server received (envelope, headers, both parts) and how lethe
classified the answer (ok / unavailable: retry later / invalid_request: a
dead letter).  The recipient's address never reaches lethe's output.
"""
import email.utils
import json
import os
import re
import subprocess
import time
from pathlib import Path

import pytest

from lethe_e2e import SLOW, check_sanitizer, lethe_path
from smtp_helpers import SmtpSink, free_port, smtp_sink  # noqa: F401  (smtp_sink: a fixture)

TO = "jane.doe@example.org"
LINK = "https://privacy.example.com/privacy/l/abcdefghijklmnopqrstuvwxyz234567"
USER, PASSWORD = "mailer", "pa55-w0rd!"


def probe_path():
    return str(Path(lethe_path()).parent / "tests" / "unit" / "mail_probe")


def write_config(tmp_path, port, **keys):
    mail = {"url": "smtp://127.0.0.1:%d" % port, "from": "privacy@example.com",
            "starttls": "off", "connect_timeout": "2s", "timeout": "10s"}
    mail.update(keys)
    path = tmp_path / "mail.yaml"
    path.write_text(json.dumps({"mail": mail}))  # JSON is YAML
    return str(path)


def probe(config, count=1, env=None, timeout=30):
    """Run mail_probe: one message sent @count times; returns the result dicts."""
    e = {k: v for k, v in os.environ.items() if not k.startswith("LETHE_TEST_SMTP")}
    e.update(env or {})
    p = subprocess.run([probe_path(), config, TO, str(count)], capture_output=True, text=True,
                       timeout=timeout * SLOW, env=e)
    check_sanitizer(p.stderr)
    assert p.returncode == 0, p.stderr
    out = p.stdout + p.stderr
    assert TO not in out and "jane" not in out, "the recipient reached the output: " + out
    assert PASSWORD not in out, "the password reached the output"
    res = [json.loads(line) for line in p.stdout.splitlines()]
    assert len(res) == count, p.stdout
    return res


def test_mail_plain_delivery(tmp_path, smtp_sink):
    config = write_config(tmp_path, smtp_sink.port, from_name="Exämple privacy team",
                          reply_to="help@example.com")
    res = probe(config)
    assert res[0]["rc"] == "ok", res
    msg = smtp_sink.wait_for(1)[0]
    # The envelope.
    assert msg.mail_from == "privacy@example.com"
    assert msg.rcpt == [TO]
    # The headers, as a mail client reads them.
    assert msg.subject == "Your request to Exämple is scheduled"
    assert str(msg.header("From")) == "Exämple privacy team <privacy@example.com>"
    assert str(msg.header("To")) == TO
    assert str(msg.header("Reply-To")) == "help@example.com"
    assert str(msg.header("Auto-Submitted")) == "auto-generated"
    assert str(msg.header("MIME-Version")) == "1.0"
    assert re.fullmatch(r"<[0-9a-f]{32}@example\.com>", str(msg.header("Message-ID")))
    sent = email.utils.parsedate_to_datetime(str(msg.header("Date"))).timestamp()
    assert abs(sent - time.time()) < 120
    assert msg.email.get_content_type() == "multipart/alternative"
    kinds = [p.get_content_type() for p in msg.email.iter_parts()]
    assert kinds == ["text/plain", "text/html"]
    for part in msg.email.iter_parts():
        assert part["Content-Transfer-Encoding"] == "quoted-printable"
        assert part.get_content_charset() == "utf-8"
    # Both parts as written, the link whole.
    assert "Grüße" in msg.text and "= the end." in msg.text
    assert msg.links == [LINK]
    assert '<a href="%s">' % LINK in msg.html and 'lang="en"' in msg.html
    # 7-bit, CRLF, no line over 78 bytes.
    raw = msg.raw
    assert max(raw) < 0x80
    for line in raw.split(b"\r\n"):
        assert b"\n" not in line and len(line) <= 78, line


def test_mail_starttls_required_but_not_offered(tmp_path, smtp_sink):
    """mail.starttls defaults to required: a server without STARTTLS gets nothing."""
    config = write_config(tmp_path, smtp_sink.port)
    cfg = json.loads(Path(config).read_text())
    del cfg["mail"]["starttls"]
    Path(config).write_text(json.dumps(cfg))
    res = probe(config)
    assert res[0]["rc"] == "unavailable", res
    assert "STARTTLS" in res[0]["message"]
    time.sleep(0.2)
    assert smtp_sink.messages == [] and smtp_sink.attempts == 0


def test_mail_starttls_with_ca_file(tmp_path):
    with SmtpSink(starttls=True, require_tls=True) as sink:
        # Verified against the server's CA: delivered over TLS.
        config = write_config(tmp_path, sink.port, starttls="required", ca_file=sink.cert_file)
        res = probe(config)
        assert res[0]["rc"] == "ok", res
        assert sink.wait_for(1)[0].rcpt == [TO]
        # Without the CA the certificate does not verify: nothing sent, retry later.
        config = write_config(tmp_path, sink.port, starttls="required")
        res = probe(config, env={"SSL_CERT_FILE": os.devnull, "CURL_CA_BUNDLE": os.devnull})
        assert res[0]["rc"] == "unavailable", res
        # starttls: off against a server that requires TLS: 530, retry later, nothing sent.
        config = write_config(tmp_path, sink.port, starttls="off")
        res = probe(config)
        assert res[0]["rc"] == "unavailable", res
        assert "530" in res[0]["message"]
        time.sleep(0.2)
        assert len(sink.messages) == 1


def test_mail_starttls_optional(tmp_path, smtp_sink):
    """starttls: optional sends in plain text to a server without STARTTLS, and over TLS
    to one that offers it (one that requires it accepts the message)."""
    res = probe(write_config(tmp_path, smtp_sink.port, starttls="optional"))
    assert res[0]["rc"] == "ok", res
    smtp_sink.wait_for(1)
    with SmtpSink(starttls=True, require_tls=True) as sink:
        res = probe(write_config(tmp_path, sink.port, starttls="optional",
                                 ca_file=sink.cert_file))
        assert res[0]["rc"] == "ok", res
        sink.wait_for(1)


def test_mail_smtps(tmp_path):
    """smtps://: TLS from the start, whatever mail.starttls says; verified like STARTTLS."""
    with SmtpSink(smtps=True) as sink:
        url = "smtps://127.0.0.1:%d" % sink.port
        res = probe(write_config(tmp_path, sink.port, url=url, starttls="off",
                                 ca_file=sink.cert_file))
        assert res[0]["rc"] == "ok", res
        assert sink.wait_for(1)[0].rcpt == [TO]
        res = probe(write_config(tmp_path, sink.port, url=url),
                    env={"SSL_CERT_FILE": os.devnull, "CURL_CA_BUNDLE": os.devnull})
        assert res[0]["rc"] == "unavailable", res
        # smtp:// to a TLS port: no SMTP greeting, a bounded failure, retry later.
        res = probe(write_config(tmp_path, sink.port, starttls="off", timeout="2s"))
        assert res[0]["rc"] == "unavailable", res
        time.sleep(0.2)
        assert len(sink.messages) == 1


def test_mail_auth_over_starttls(tmp_path):
    """The usual submission setup: STARTTLS required, then AUTH."""
    with SmtpSink(starttls=True, require_tls=True, auth=(USER, PASSWORD)) as sink:
        config = write_config(tmp_path, sink.port, starttls="required",
                              ca_file=sink.cert_file, user_env="LETHE_TEST_SMTP_USER",
                              password_env="LETHE_TEST_SMTP_PASSWORD")
        env = {"LETHE_TEST_SMTP_USER": USER, "LETHE_TEST_SMTP_PASSWORD": PASSWORD}
        res = probe(config, env=env)
        assert res[0]["rc"] == "ok", res
        assert sink.wait_for(1)[0].rcpt == [TO]


@pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS")
def test_mail_auth_from_env_and_file(tmp_path):
    with SmtpSink(auth=(USER, PASSWORD)) as sink:
        config = write_config(tmp_path, sink.port, user_env="LETHE_TEST_SMTP_USER",
                              password_env="LETHE_TEST_SMTP_PASSWORD")
        env = {"LETHE_TEST_SMTP_USER": USER, "LETHE_TEST_SMTP_PASSWORD": PASSWORD}
        res = probe(config, env=env)
        assert res[0]["rc"] == "ok", res
        sink.wait_for(1)
        secret = tmp_path / "smtp-password"
        secret.write_text(PASSWORD + "\n")
        secret.chmod(0o600)
        config = write_config(tmp_path, sink.port, user_env="LETHE_TEST_SMTP_USER",
                              password_file="smtp-password")
        res = probe(config, env={"LETHE_TEST_SMTP_USER": USER})
        assert res[0]["rc"] == "ok", res
        sink.wait_for(2)
        # A wrong password: the login is refused (535), retry later, nothing sent.
        env["LETHE_TEST_SMTP_PASSWORD"] = "wrong"
        config = write_config(tmp_path, sink.port, user_env="LETHE_TEST_SMTP_USER",
                              password_env="LETHE_TEST_SMTP_PASSWORD")
        res = probe(config, env=env)
        assert res[0]["rc"] == "unavailable", res
        # No credentials: the server requires AUTH (530), retry later.
        config = write_config(tmp_path, sink.port)
        res = probe(config)
        assert res[0]["rc"] == "unavailable", res
        time.sleep(0.2)
        assert len(sink.messages) == 2


def test_mail_451_is_for_later(tmp_path, smtp_sink):
    """A 4xx answer: unavailable; the next message on the same sender goes through."""
    smtp_sink.fail_next(1, 451)
    res = probe(write_config(tmp_path, smtp_sink.port), count=2)
    assert res[0]["rc"] == "unavailable", res
    assert "451" in res[0]["message"]
    assert res[1]["rc"] == "ok", res
    assert len(smtp_sink.wait_for(1)) == 1


def test_mail_550_is_permanent(tmp_path, smtp_sink):
    smtp_sink.refuse(550)
    res = probe(write_config(tmp_path, smtp_sink.port))
    assert res[0]["rc"] == "invalid_request", res
    assert "550" in res[0]["message"]
    time.sleep(0.2)
    assert smtp_sink.messages == []


def test_mail_hang_times_out(tmp_path, smtp_sink):
    """A server that does not answer DATA: unavailable once mail.timeout has passed."""
    smtp_sink.hang(8)
    res = probe(write_config(tmp_path, smtp_sink.port, timeout="1s"))
    assert res[0]["rc"] == "unavailable", res
    assert 900 <= res[0]["ms"] < 3000 * SLOW, res
    assert "imeout" in res[0]["message"] or "timed out" in res[0]["message"]


def test_mail_nothing_listening(tmp_path):
    res = probe(write_config(tmp_path, free_port()))
    assert res[0]["rc"] == "unavailable", res
    assert res[0]["ms"] < 3000 * SLOW


def test_mail_connection_reused(tmp_path, smtp_sink):
    """Three messages on one sender: one connection (one client port) carries them all."""
    res = probe(write_config(tmp_path, smtp_sink.port), count=3)
    assert [r["rc"] for r in res] == ["ok"] * 3, res
    msgs = smtp_sink.wait_for(3)
    assert len({m.peer for m in msgs}) == 1, [m.peer for m in msgs]
