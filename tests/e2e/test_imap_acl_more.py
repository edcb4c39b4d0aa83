# SPDX-License-Identifier: MIT
"""IMAP ACL, the rest of issue 8 part 1: GETQUOTAROOT and GETQUOTA on a
shared mailbox answer the owner's quota (root "Other Users/OWNER"), RENAME
of a shared mailbox needs 'x' on it and 'k' on the new parent (RFC 4314)
and stays in the owner's tree, and APPEND into a shared mailbox keeps the
appender's own \\Seen (with 's') without marking it read for the owner.
Client: Python's imaplib."""
import imaplib
import re

from conftest import make_message
from test_imap_acl import ALICE, BOB, CAROL, alice_team, cmd, login, q, setup_users, uid_flags

for _name in ("GETQUOTAROOT", "GETQUOTA"):
    imaplib.Commands.setdefault(_name, ("AUTH", "SELECTED"))

TEAM = "Other Users/alice@example.test/Team"
ROOT = "Other Users/alice@example.test"


def test_quota_of_a_shared_mailbox_is_the_owners(facteur):
    f = facteur
    setup_users(f, ALICE, BOB, CAROL)
    f.cli("user", "quota", ALICE, "100000")
    f.cli("user", "quota", BOB, "5000")
    a = alice_team(f, messages=2)
    b = login(f, BOB)
    # Nothing shared yet: no trace of alice's mailbox nor of her root.
    typ, data = b._simple_command("GETQUOTAROOT", q(TEAM))
    assert typ == "NO" and b"NONEXISTENT" in data[0]
    typ, data = b._simple_command("GETQUOTA", q(ROOT))
    assert typ == "NO" and b"NONEXISTENT" in data[0]
    assert cmd(a, "SETACL", "Team", BOB, "lr")[0] == "OK"
    typ, data = b._simple_command("GETQUOTAROOT", q(TEAM))
    assert typ == "OK", data
    roots = [x.decode() for x in b.untagged_responses.pop("QUOTAROOT", [])]
    quotas = [x.decode() for x in b.untagged_responses.pop("QUOTA", [])]
    assert roots == ['"%s" "%s"' % (TEAM, ROOT)]
    assert len(quotas) == 1 and quotas[0].startswith('"%s" (STORAGE 1 98)' % ROOT), quotas
    typ, data = b._simple_command("GETQUOTA", q(ROOT))
    assert typ == "OK", data
    assert b.untagged_responses.pop("QUOTA")[0].decode().endswith("(STORAGE 1 98)")
    # bob's own root is still "" with his own numbers.
    typ, data = b._simple_command("GETQUOTAROOT", "INBOX")
    assert typ == "OK"
    assert b.untagged_responses.pop("QUOTA")[0].decode().startswith('"" (STORAGE 0 5)')
    # carol got no grant: alice's root does not exist for her.
    c = login(f, CAROL)
    typ, data = c._simple_command("GETQUOTA", q(ROOT))
    assert typ == "NO" and b"NONEXISTENT" in data[0]
    for x in (a, b, c):
        x.logout()


def test_rename_shared_mailbox(facteur):
    f = facteur
    setup_users(f, ALICE, BOB)
    a = alice_team(f, messages=1)
    assert a.create("Projects")[0] == "OK"
    b = login(f, BOB)
    assert cmd(a, "SETACL", "Team", BOB, "lr")[0] == "OK"
    typ, data = b.rename(q(TEAM), q(ROOT + "/Projects/Team"))
    assert typ == "NO" and b"NOPERM" in data[0]
    # x on Team, but no k on Projects (not even visible): still refused.
    assert cmd(a, "SETACL", "Team", BOB, "lrx")[0] == "OK"
    typ, data = b.rename(q(TEAM), q(ROOT + "/Projects/Team"))
    assert typ == "NO" and b"CANNOT" in data[0]
    assert cmd(a, "SETACL", "Projects", BOB, "lr")[0] == "OK"
    typ, data = b.rename(q(TEAM), q(ROOT + "/Projects/Team"))
    assert typ == "NO" and b"NOPERM" in data[0]
    # Out of alice's tree or to her top level: refused.
    typ, data = b.rename(q(TEAM), "Mine")
    assert typ == "NO" and b"CANNOT" in data[0]
    typ, data = b.rename(q(TEAM), q(ROOT + "/Renamed"))
    assert typ == "NO" and b"CANNOT" in data[0]
    typ, data = b.rename(q(ROOT + "/Nope"), q(ROOT + "/Projects/X"))
    assert typ == "NO" and b"NONEXISTENT" in data[0]
    assert cmd(a, "SETACL", "Projects", BOB, "lrk")[0] == "OK"
    assert b.create(q(ROOT + "/Projects/Taken"))[0] == "OK"
    typ, data = b.rename(q(TEAM), q(ROOT + "/Projects/Taken"))
    assert typ == "NO" and b"ALREADYEXISTS" in data[0]
    typ, data = b.rename(q(TEAM), q(ROOT + "/Projects/Team"))
    assert typ == "OK", data
    # alice sees it moved, with its message and bob's grant.
    assert a.select("Projects/Team")[0] == "OK"
    assert a.search(None, "ALL")[1][0] == b"1"
    assert a.select("Team")[0] == "NO"
    assert b.select(q(ROOT + "/Projects/Team"), readonly=True)[0] == "OK"
    a.logout()
    b.logout()


def test_append_keeps_the_appenders_seen(facteur):
    f = facteur
    setup_users(f, ALICE, BOB)
    a = alice_team(f, messages=1)
    b = login(f, BOB)
    assert cmd(a, "SETACL", "Team", BOB, "lris")[0] == "OK"
    typ, data = b.append(q(TEAM), "(\\Seen \\Flagged)", None, make_message("posted"))
    assert typ == "OK", data
    assert b.select(q(TEAM))[0] == "OK"
    # bob's \Seen kept for him; \Flagged dropped (no 'w').
    assert uid_flags(b) == {1: set(), 2: {"\\Seen"}}
    assert a.select("Team")[0] == "OK"
    assert uid_flags(a) == {1: set(), 2: set()}
    # Without 's' the \Seen is dropped.
    assert cmd(a, "SETACL", "Team", BOB, "lri")[0] == "OK"
    assert b.append(q(TEAM), "(\\Seen)", None, make_message("posted 2"))[0] == "OK"
    assert cmd(a, "SETACL", "Team", BOB, "lris")[0] == "OK"
    assert b.select(q(TEAM))[0] == "OK"
    assert uid_flags(b)[3] == set()
    a.logout()
    b.logout()


def test_seen_modseq_is_the_readers(facteur):
    """RFC 7162 with per-user \\Seen (RFC 4314 4): bob's own \\Seen change
    moves the MODSEQ bob sees (FETCH CHANGEDSINCE, SEARCH MODSEQ, his other
    session's unsolicited FETCH), while alice (the owner) and carol (another
    reader) see no change at all; a shared flag is everyone's change."""
    f = facteur
    setup_users(f, ALICE, BOB, CAROL)
    a = alice_team(f, messages=2)
    for who in (BOB, CAROL):
        assert cmd(a, "SETACL", "Team", who, "lrsw")[0] == "OK"
    sessions = {}
    for who in (ALICE, BOB, CAROL):
        m = login(f, who)
        assert m._simple_command("ENABLE", "CONDSTORE")[0] == "OK"
        assert m.select(q("Team" if who == ALICE else TEAM))[0] == "OK"
        sessions[who] = m
    b2 = login(f, BOB)
    assert b2._simple_command("ENABLE", "CONDSTORE")[0] == "OK"
    assert b2.select(q(TEAM))[0] == "OK"

    def highest(m):
        typ, data = m.status(q("Team" if m is sessions[ALICE] else TEAM), "(HIGHESTMODSEQ)")
        return int(re.search(rb"HIGHESTMODSEQ (\d+)", data[0]).group(1))

    def changed(m, since):
        typ, data = m.uid("FETCH", "1:*", "(FLAGS)", "(CHANGEDSINCE %d)" % since)
        assert typ == "OK", data
        return {int(re.search(rb"UID (\d+)", x).group(1)): b"\\Seen" in x
                for x in data if x}

    def modseq_search(m, since):
        typ, data = m.uid("SEARCH", "MODSEQ", str(since + 1))
        assert typ == "OK", data
        return [int(x) for x in re.sub(rb"\(MODSEQ \d+\)", b"", data[0]).split()]

    m0 = highest(sessions[BOB])
    for m in list(sessions.values()) + [b2]:
        m.untagged_responses.clear()
    b = sessions[BOB]
    assert b.uid("STORE", "1", "+FLAGS.SILENT", "(\\Seen)")[0] == "OK"
    # bob: the change is his, with a new MODSEQ
    assert changed(b, m0) == {1: True}
    assert modseq_search(b, m0) == [1]
    assert b2.noop()[0] == "OK"
    fetches = b2.untagged_responses.pop("FETCH", [])
    assert any(b"\\Seen" in x and b"MODSEQ" in x for x in fetches), fetches
    # alice and carol: nothing changed, nothing told
    for who in (ALICE, CAROL):
        m = sessions[who]
        assert m.noop()[0] == "OK"
        assert "FETCH" not in m.untagged_responses, (who, m.untagged_responses)
        assert changed(m, m0) == {}, who
        assert modseq_search(m, m0) == [], who
    # removing it is a change for bob too
    m1 = highest(b)
    assert b.uid("STORE", "1", "-FLAGS.SILENT", "(\\Seen)")[0] == "OK"
    assert changed(b, m1) == {1: False}
    assert changed(sessions[CAROL], m1) == {}
    # a shared flag: everyone's change
    m2 = highest(b)
    assert sessions[CAROL].uid("STORE", "2", "+FLAGS.SILENT", "(\\Flagged)")[0] == "OK"
    for who in (ALICE, BOB, CAROL):
        assert list(changed(sessions[who], m2)) == [2], who
    for m in list(sessions.values()) + [b2]:
        m.logout()
