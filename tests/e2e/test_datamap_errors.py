# SPDX-License-Identifier: MIT
"""Broken data maps: exit 3, an error `datamap.yaml:LINE: ...` pointing at the right
line, and the app database untouched."""
import json
import re

import pytest

from lethe_e2e import file_sha256, media_files

DEMO_OPTIONS = ["--users", "4", "--seed", "5"]

ERR_RE = re.compile(r"datamap\.yaml:(\d+): (.*)")


class MapText:
    """The demo data map as lines, with edits that report 1-based line numbers."""

    def __init__(self, text):
        self.lines = text.split("\n")

    def text(self):
        return "\n".join(self.lines)

    def block(self, section, name):
        """(first, end) 0-based line range of `  name:` under top-level `section:`."""
        start = self.lines.index(section + ":")
        first = None
        for i in range(start + 1, len(self.lines)):
            line = self.lines[i]
            if first is None:
                if line == "  %s:" % name:
                    first = i
                continue
            if line and not line.startswith("   ") and not line.startswith("#"):
                return first, i
        assert first is not None, "no %s.%s in the data map" % (section, name)
        return first, len(self.lines)

    def find(self, table, needle, section="tables"):
        """1-based line of the first line of @table's block containing @needle."""
        first, end = self.block(section, table)
        for i in range(first, end):
            if needle in self.lines[i]:
                return i + 1
        raise AssertionError("%r not in %s.%s" % (needle, section, table))

    def replace(self, table, old, new, section="tables"):
        """Replace @old by @new in the first line of @table's block holding it."""
        n = self.find(table, old, section)
        self.lines[n - 1] = self.lines[n - 1].replace(old, new, 1)
        return n

    def insert_after(self, n, new_lines):
        """Insert @new_lines after 1-based line @n; returns the first new line's number."""
        self.lines[n:n] = new_lines
        return n + 1

    def delete(self, n, count=1):
        del self.lines[n - 1:n - 1 + count]


# Each case edits the map and returns (acceptable line numbers, words the message names).


def unknown_table(m):
    n = m.replace("campaigns", "  campaigns:", "  campaignz:")
    return {n}, ["campaignz"]


def unknown_column_in_link(m):
    link = m.find("posts", "- parent: projects")
    col = m.replace("posts", "column: project_id", "column: projectid")
    # The link (its first line) or the column line itself.
    return {link, col}, ["projectid", "posts"]


def unknown_column_in_when(m):
    n = m.replace("channels", "when: {platform: instagram}", "when: {platfrom: instagram}")
    return {n}, ["platfrom"]


def unknown_column_to_anonymize(m):
    n = m.replace("request_logs", "ip: null", "ipaddr: null")
    return {n}, ["ipaddr"]


def unknown_key_in_table(m):
    n = m.replace("users", "erase: delete", "eras: delete")
    return {n}, ["eras"]


def unknown_key_in_link(m):
    n = m.replace("projects", "column: user_id", "colum: user_id")
    return {n}, ["colum"]


def unknown_key_in_erase(m):
    n = m.replace("invoices", "for: 10y", "fore: 10y")
    return {n}, ["fore"]


def parent_not_mapped(m):
    n = m.replace("posts", "- parent: projects", "- parent: projectz")
    return {n}, ["projectz", "posts"]


def parent_table_removed(m):
    """Delete the whole projects mapping: its first child (channels) names it."""
    first, end = m.block("tables", "projects")
    m.delete(first + 1, end - first)
    n = m.find("channels", "- parent: projects")
    return {n}, ["projects", "channels"]


def cycle_two_tables(m):
    """users gets a parent link to projects; projects links to users."""
    at = m.find("users", "column: id")
    new = m.insert_after(at, ["      - parent: projects", "        column: id"])
    back = m.find("projects", "- parent: users")
    return {new, back}, ["cycle"]


def bad_duration(m):
    n = m.replace("invoices", "for: 10y", "for: 10x")
    return {n}, ["10x"]


def bad_ttl_duration(m):
    n = m.replace("messages", "after: 30d", "after: 30 days")
    return {n}, ["30 days"]


def undeclared_identity(m):
    n = m.replace("users", "- identity: email", "- identity: e_mail")
    return {n}, ["e_mail"]


def unknown_category(m):
    n = m.replace("posts", "category: content", "category: contnet")
    return {n}, ["contnet"]


def unknown_erase_action(m):
    n = m.replace("campaigns", "erase: delete", "erase: shred")
    return {n}, ["shred"]


def retain_without_reason(m):
    erase = m.find("invoices", "erase:")
    action = m.find("invoices", "action: retain")
    reason = m.find("invoices", "reason: >-")
    count = 1
    while m.lines[reason - 1 + count].startswith("        "):
        count += 1
    m.delete(reason, count)
    # The erase mapping: its key line or its first line (action: retain).
    return {erase, action}, ["reason"]


def scope_unmapped_table(m):
    n = m.replace("meta", "[channels, messages,", "[channels, mesages,", section="scopes")
    return {n}, ["mesages"]


def scope_undeclared_identity(m):
    n = m.replace("channel", "identities: [channel_id]", "identities: [chanel_id]",
                  section="scopes")
    return {n}, ["chanel_id"]


def erase_in_unknown_scope(m):
    at = m.find("analytics", "erase: delete")
    n = m.insert_after(at, ["    erase_in:", "      acount: {action: retain, reason: r, for: 30d}"])
    return {n + 1}, ["acount", "not declared"]


def erase_in_scope_without_the_table(m):
    """The meta scope does not act on users."""
    at = m.find("users", "erase: delete")
    n = m.insert_after(at, ["    erase_in:", "      meta: {action: anonymize, columns: {name: null}}"])
    return {n + 1}, ["meta", "users", "does not act on this table"]


def keep_rule_on_a_missing_column(m):
    n = m.replace("analytics", "erase: delete",
                  "erase: {action: delete, keep: [{when: {lvl: error}, reason: r, for: 1d}]}")
    return {n}, ["analytics", "lvl"]


def keep_rule_without_reason(m):
    n = m.replace("analytics", "erase: delete",
                  "erase: {action: delete, keep: [{when: {day: x}, for: 1d}]}")
    return {n}, ["retain needs a 'reason'"]


def hold_outlasting_the_ttl(m):
    """Kept 30 days from the erasure, but the ttl deletes 30 days after received_at."""
    n = m.replace("messages", "erase: delete",
                  "erase: {action: delete, keep: [{when: {channel_id: 0}, reason: r, for: 30d}]}")
    ttl = m.find("messages", "ttl:")
    return {ttl}, ["received_at", "line %d" % n, "from: received_at"]


def yaml_syntax_error(m):
    n = m.replace("analytics", "category: analytics", "category: [analytics")
    # The parser notices the unclosed flow sequence at or after that line.
    return set(range(n, n + 4)), ["YAML"]


CASES = [
    unknown_table,
    unknown_column_in_link,
    unknown_column_in_when,
    unknown_column_to_anonymize,
    unknown_key_in_table,
    unknown_key_in_link,
    unknown_key_in_erase,
    parent_not_mapped,
    parent_table_removed,
    cycle_two_tables,
    bad_duration,
    bad_ttl_duration,
    undeclared_identity,
    unknown_category,
    unknown_erase_action,
    retain_without_reason,
    scope_unmapped_table,
    scope_undeclared_identity,
    erase_in_unknown_scope,
    erase_in_scope_without_the_table,
    keep_rule_on_a_missing_column,
    keep_rule_without_reason,
    hold_outlasting_the_ttl,
    yaml_syntax_error,
]


def test_demo_datamap_is_valid(demo):
    """The unedited map works (so every failure below is the edit's doing)."""
    code, out, err = demo.lethe("plan", "--scope", "account", "--id",
                                "email=user1@example.com", "--json")
    assert code == 0, err


@pytest.mark.parametrize("case", CASES, ids=[c.__name__ for c in CASES])
@pytest.mark.parametrize("cmd", ["erase", "plan"])
def test_broken_datamap(demo, case, cmd):
    m = MapText(demo.datamap.read_text())
    lines, words = case(m)
    demo.datamap.write_text(m.text())
    db_hash = file_sha256(demo.db)
    files = media_files(demo.media)

    code, out, err = demo.lethe(cmd, "--scope", "account", "--id", "email=user1@example.com",
                                "--json")

    assert code == 3, "exit %d, stderr: %s" % (code, err)
    match = ERR_RE.search(err)
    assert match, "no 'datamap.yaml:LINE: ...' on stderr: %r" % err
    line = int(match.group(1))
    assert line in lines, "error on line %d, expected %s: %s" % (line, sorted(lines),
                                                                 match.group(0))
    for w in words:
        assert w in match.group(2), "message should name %r: %s" % (w, match.group(0))
    doc = json.loads(out)
    assert doc["error"]["code"] == "datamap"
    assert ERR_RE.search(doc["error"]["message"]).group(1) == match.group(1)
    # Nothing happened to the app: same database bytes, same files, no job.
    assert file_sha256(demo.db) == db_hash
    assert media_files(demo.media) == files
    assert demo.state("SELECT count(*) FROM jobs") in ([], [(0,)])
