# SPDX-License-Identifier: MIT
"""Mail as people really send it (tests/e2e/mail_corpus/README.md), understood as its
wording says: forwards (attached and inline), a reply, HTML-only mail, odd charsets
(ISO-8859-1, windows-1252, KOI8-R, ISO-2022-JP, RFC 2047 subjects), quoted-printable and
base64 bodies.  Each goes through LMTP into a real `lethe serve` whose mailbox is the
seed's block of docs/mail-intake.md; the mailbox row, the claims the operator sees
(`lethe mailbox show`: decoded subject and text), the request and the mails are asserted.
"""
import secrets

import pytest

from mailin_e2e_helpers import (
    corpus,
    decide,
    link_token_of,
    PUBLIC,
    mailbox_env,  # noqa: F401
    person_values,
    without_code,
)

DEMO_OPTIONS = ["--users", "40", "--seed", "7"]

# (file, seed, subject as decoded, identity kind named (None: the sender), [words of the
# decoded text], [words the text must not have])
CASES = [
    ("forward-attached.eml", 2, "Fwd: Account Deletion Request", "account_name",
     ["Forwarding my earlier mail", "Please delete my SoundOps account",
      "Subject: Account Deletion Request"], []),
    ("forward-inline.eml", 2, "Fwd: Meta Data Deletion Request", "instagram_username",
     ["---------- Forwarded message ---------", "Sending this again."], []),
    ("reply-quoted.eml", 0, "Re: Account deletion", None,
     ["Yes, I really want the account deleted", "> please delete my account"], []),
    ("html-only-outlook.eml", 2, "Account Deletion Request", "account_name",
     ["please delete my account & all associated data."],
     ["<p", "MsoNormal", "not-this-one", "&amp;"]),
    ("charset-de-latin1-qp.eml", 2, "Account Deletion Request - Löschung meines Kontos",
     "account_name", ["hiermit bitte ich um die Löschung meines Kontos",
                      "Mit freundlichen Grüßen"], ["=F6", "=FC"]),
    ("charset-fr-cp1252.eml", 2, "Account Deletion Request – suppression de mon compte",
     "account_name", ["l’ensemble de mes données", "(coût : 0 €, évidemment)"], []),
    ("charset-ru-koi8r.eml", 2, "Meta Data Deletion Request - удаление данных",
     "instagram_username", ["Прошу удалить все данные"], []),
    ("charset-ja-iso2022jp.eml", 2, "Meta Data Deletion Request データ削除のお願い",
     "instagram_username", ["データの削除をお願いします"], ["\x1b$B"]),
    ("qp-utf8-alternative.eml", 2, "Account Deletion Request", "account_name",
     ["please delete my SoundOps account – the whole thing, with every project and every "
      "upload, nothing kept"], ["decoy-html-value", "=E2=80=93"]),
    ("base64-body.eml", 4, "Data Deletion Request", None,
     ["please delete my Socio Linki account and all its data"], []),
]


@pytest.mark.parametrize("case", CASES, ids=[c[0].replace(".eml", "") for c in CASES])
def test_understood(mailbox_env, case):
    name, seed, subject, kind, words, absent = case
    mb = mailbox_env(seed)
    p = mb.person()
    raw = corpus(name, **person_values(p))
    kinds = {kind} if kind else set()
    rule, ident, path = decide(mb.block, subject, kinds)
    before = len(mb.requests())
    code, text = mb.lmtp(raw)
    assert code == 250, text

    reqs = mb.requests()[before:]
    assert len(reqs) == 1, reqs
    req = reqs[0]
    assert (req["kind"], req["scope"]) == (rule["kind"], rule["scope"])
    assert req["state"] == ("awaiting_review" if path == "review"
                            else "awaiting_verification")
    rows = [r for r in mb.mailbox_list() if r["request"] == req["id"]]
    assert len(rows) == 1, rows
    assert rows[0]["rule"] == rule["name"]
    assert rows[0]["outcome"] == ("review" if path == "review" else "request")

    shown = mb.mailbox_show(rows[0]["id"])
    assert shown["raw_kept"] is True
    assert shown["subject"] == subject
    for w in words:
        assert w in shown["text"], (w, shown["text"])
    for w in absent:
        assert w not in shown["text"], (w, shown["text"])
    assert "\ufffd" not in shown["text"] and "\ufffd" not in shown["subject"]
    if kind is not None:
        value = {"account_name": p.name, "instagram_username": p.ig}[kind]
        found = [c["value"] for c in shown["claims"] if c["identity"] == kind]
        assert found == [value], shown["claims"]

    # The verify link goes to the address of the account (on file, or the sender's);
    # a review request waits for its operator with no such link.
    if path in ("sender", "on_file"):
        got = mb.wait_mails(p.email, 1 if path == "sender" else 2)
        assert sum(1 for m in got if link_token_of(m)) == 1
    else:
        got = mb.wait_mails(p.email, 2)  # reply_review + confirm the notify address
        assert sum(1 for m in got if m.header("In-Reply-To")) == 1


def test_status_question(mailbox_env):
    """No rule matches, the text names a confirmation code: a reply with that code's status
    page link, the same whether the code exists or not; no request, nothing kept."""
    mb = mailbox_env(0)
    owner = mb.person()
    code, text = mb.lmtp(corpus("seed000-account-deletion.eml", **person_values(owner)))
    assert code == 250, text
    known = mb.requests()[-1]["id"]
    alphabet = "abcdefghijklmnopqrstuvwxyz234567"
    unknown = "".join(secrets.choice(alphabet) for _ in range(len(known)))
    asker = mb.person()
    before_req = len(mb.requests())
    before_rows = len(mb.mailbox_list())
    replies = []
    for n, c in enumerate((known, unknown)):
        raw = corpus("status-code.eml", **person_values(asker, code=c))
        rc, text = mb.lmtp(raw)
        assert rc == 250, text
        rows = mb.mailbox_list()
        assert len(rows) == before_rows + n + 1
        assert (rows[-1]["outcome"], rows[-1]["request"], rows[-1]["replied"],
                rows[-1]["raw_kept"]) == ("status", None, True, False), rows[-1]
        got = mb.wait_mails(asker.email, n + 1)
        reply = [m for m in got if c in m.text]
        assert len(reply) == 1, [m.text for m in got]
        assert PUBLIC + "/data-deletion/status?id=" + c in reply[0].text, reply[0].text
        assert reply[0].header("Auto-Submitted") == "auto-replied"
        replies.append(without_code(reply[0].text, c))
    assert replies[0] == replies[1]
    assert len(mb.requests()) == before_req
