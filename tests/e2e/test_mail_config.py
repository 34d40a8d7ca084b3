# SPDX-License-Identifier: MIT
"""The `mail:` section and `server.templates` in lethe.yaml, as the real binary
reads them: a user or password written in the file, a URL that is not SMTP,
a bad From address or an unknown key stop lethe with exit 3 and the line;
an SMTP secret that cannot be read stops `lethe serve` naming the variable
or file, never the secret; server.templates must be a directory."""
from serve_helpers import SECRETS_ENV, set_config

MAIL = ("mail:\n"
        "  url: smtp://127.0.0.1:2525\n"
        "  from: privacy@example.com\n"
        "  starttls: off\n")


def error_message(stderr):
    for line in stderr.splitlines():
        if line.startswith("lethe: error: "):
            return line[len("lethe: error: "):]
    raise AssertionError("no 'lethe: error:' line on stderr: %r" % stderr)


def plan(demo):
    return demo.lethe("plan", "--scope", "account", "--id", "email=user1@example.com")


def line_of(demo, text):
    """1-based line of the last line of lethe.yaml holding @text."""
    found = [i for i, line in enumerate(demo.config.read_text().splitlines(), 1)
             if text in line]
    assert found, "%r not in lethe.yaml" % text
    return found[-1]


def refused(demo, section, at, what):
    with open(demo.config, "a") as f:
        f.write(section)
    code, out, err = plan(demo)
    assert code == 3, (code, err)
    msg = error_message(err)
    assert "lethe.yaml:%d: " % line_of(demo, at) in msg, msg
    assert what in msg, msg
    return msg


def test_mail_section_loads(demo):
    with open(demo.config, "a") as f:
        f.write(MAIL + "  user_env: LETHE_TEST_SMTP_USER\n"
                       "  password_file: secrets/smtp.password\n")
    code, out, err = plan(demo)
    assert code == 0, err


def test_mail_password_in_the_file_refused(demo):
    msg = refused(demo, "mail: {url: 'smtp://h', from: a@b.c, password: hunter2}\n",
                  "hunter2", "the SMTP password is not written in lethe.yaml")
    assert "password_env" in msg and "password_file" in msg
    assert "hunter2" not in msg


def test_mail_user_in_the_file_refused(demo):
    refused(demo, MAIL + "  user: bob\n", "user: bob",
            "the SMTP user is not written in lethe.yaml")


def test_mail_url_must_be_smtp(demo):
    refused(demo, MAIL.replace("smtp://127.0.0.1:2525", "https://mail.example.com"),
            "url:", "url must be smtp://HOST[:PORT] or smtps://HOST[:PORT]")
    demo.config.write_text(demo.config_without("mail"))
    msg = refused(demo, MAIL.replace("smtp://127", "smtp://bob:hunter2@127"), "url:",
                  "no user or password in it")
    assert "hunter2" not in msg


def test_mail_bad_from_and_unknown_key(demo):
    refused(demo, MAIL.replace("privacy@example.com", "privacy at example"), "from:",
            "mail.from must be an email address")
    demo.config.write_text(demo.config_without("mail"))
    refused(demo, MAIL + "  starttls_mode: on\n", "starttls_mode", "unknown key 'starttls_mode'")
    demo.config.write_text(demo.config_without("mail"))
    refused(demo, MAIL.replace("starttls: off", "starttls: sometimes"), "starttls:",
            "starttls must be required, optional or off")


def test_mail_secret_unreadable_stops_serve(demo, run_lethe):
    with open(demo.config, "a") as f:
        f.write(MAIL + "  user_env: LETHE_TEST_SMTP_USER\n"
                       "  password_env: LETHE_TEST_SMTP_PASSWORD\n")
    env = dict(SECRETS_ENV, LETHE_TEST_SMTP_USER="mailer")
    code, out, err = demo.lethe("serve", "--listen", "127.0.0.1:0", env=env, timeout=20)
    assert code == 3, (code, err)
    msg = error_message(err)
    assert "LETHE_TEST_SMTP_PASSWORD" in msg and "mailer" not in msg, msg


def test_server_templates_must_be_a_directory(demo):
    set_config(demo, r"^(\s*)contact: (.*)$", r"\1contact: \2\n\1templates: no-such-dir")
    code, out, err = plan(demo)
    assert code == 3, (code, err)
    msg = error_message(err)
    assert "lethe.yaml:%d: " % line_of(demo, "templates:") in msg, msg
    assert "server.templates:" in msg and "no-such-dir is not a directory" in msg, msg
    (demo.dir / "no-such-dir").mkdir()
    code, out, err = plan(demo)
    assert code == 0, err
