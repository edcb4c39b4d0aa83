# SPDX-License-Identifier: MIT
"""NOTIFY (RFC 5465, issue 8 part 3): one session asks for events with
NOTIFY SET, another session (or SMTP) changes things, and the first gets
the events by itself, between commands and during IDLE: EXISTS and FETCH
with the requested attributes for the selected mailbox (MessageNew),
EXPUNGE (held back with SELECTED-DELAYED), unsolicited STATUS for other
mailboxes (MessageNew/MessageExpunge/FlagChange), LIST for created,
renamed and deleted mailboxes (MailboxName) and for subscriptions
(SubscriptionChange), METADATA for mailbox and server entries; NOTIFY SET
STATUS, NOTIFY NONE, events only about mailboxes one may look up (ACL),
and bad input (BAD for unknown events and malformed groups, NO [BADEVENT]
for AnnotationChange). Clients: raw IMAP (imaplib has no NOTIFY and drops
unsolicited lines) and smtplib."""
import re

import pytest

from conftest import make_message, send_mx
from imap_raw import RawImap

ALICE, BOB, CAROL = "alice@example.test", "bob@example.test", "carol@example.test"
PW = "correct horse battery"
MSG = b"From: a@example.org\r\nSubject: hello notify\r\n\r\nbody\r\n"

EVERYTHING = ("(personal (MessageNew MessageExpunge FlagChange MailboxName"
              " SubscriptionChange MailboxMetadataChange ServerMetadataChange))")


@pytest.fixture
def users(facteur):
    for u in (ALICE, BOB, CAROL):
        facteur.add_user(u, PW)
    opened = []

    def session(user=ALICE):
        s = RawImap(facteur, user, PW)
        opened.append(s)
        return s
    yield facteur, session
    for s in opened:
        s.close()


def append(s, mailbox, msg=MSG):
    typ, lines = s.cmd("APPEND %s {%d}" % (mailbox, len(msg)), msg)
    assert typ == "OK", lines


def test_capability(users):
    f, session = users
    a = session()
    typ, lines = a.cmd("CAPABILITY")
    assert b"NOTIFY" in lines[0].split()


def test_selected_message_new_with_fetch_and_expunge(users):
    f, session = users
    a, b = session(), session()
    assert a.cmd("SELECT INBOX")[0] == "OK"
    typ, lines = a.cmd("NOTIFY SET (selected (MessageNew (UID"
                       " BODY.PEEK[HEADER.FIELDS (Subject)]) MessageExpunge FlagChange))")
    assert typ == "OK", lines
    append(b, "INBOX")
    # No command from a: the events come by themselves.
    line, seen = a.wait_for(rb"FETCH \(", 5)
    assert line is not None, seen
    assert any(re.match(rb"\* 1 EXISTS", l) for l in seen), seen
    assert b"UID 1" in line and b"Subject: hello notify" in line, line
    # The fetch is PEEK: the message stays unseen.
    assert b.cmd("SELECT INBOX")[0] == "OK"
    typ, lines = b.cmd("FETCH 1 FLAGS")
    assert b"\\Seen" not in lines[0]
    # A flag change by the other session.
    assert b.cmd("STORE 1 +FLAGS (\\Flagged)")[0] == "OK"
    line, seen = a.wait_for(rb"\* 1 FETCH \(.*\\Flagged", 5)
    assert line is not None, seen
    # An expunge, sent at once with SELECTED.
    assert b.cmd("STORE 1 +FLAGS (\\Deleted)")[0] == "OK"
    assert b.cmd("EXPUNGE")[0] == "OK"
    line, seen = a.wait_for(rb"\* 1 EXPUNGE", 5)
    assert line is not None, seen


def test_selected_delayed_holds_expunge(users):
    f, session = users
    a, b = session(), session()
    append(b, "INBOX")
    assert a.cmd("SELECT INBOX")[0] == "OK"
    assert a.cmd("NOTIFY SET (selected-delayed (MessageNew MessageExpunge))")[0] == "OK"
    assert b.cmd("SELECT INBOX")[0] == "OK"
    assert b.cmd("STORE 1 +FLAGS (\\Deleted)")[0] == "OK"
    assert b.cmd("EXPUNGE")[0] == "OK"
    assert not any(b"EXPUNGE" in l for l in a.untagged(1.5))
    typ, lines = a.cmd("NOOP")
    assert any(re.match(rb"\* 1 EXPUNGE", l) for l in lines), lines


def test_status_for_other_mailboxes_while_idle(users):
    f, session = users
    a, b = session(), session()
    assert a.cmd("NOTIFY SET %s" % EVERYTHING)[0] == "OK"
    # In IDLE, an SMTP delivery to INBOX.
    a.send("i1 IDLE\r\n")
    assert a.line().startswith(b"+")
    send_mx(f, make_message("idle notify"), rcpts=(ALICE,))
    line, seen = a.wait_for(rb"\* STATUS INBOX \(MESSAGES 1 UIDNEXT 2", 5)
    assert line is not None, seen
    a.send("DONE\r\n")
    assert a.line().startswith(b"i1 OK")
    # Between commands: an APPEND to Archive, then a flag change there.
    append(b, "Archive")
    line, seen = a.wait_for(rb"\* STATUS Archive \(MESSAGES 1 ", 5)
    assert line is not None and b"UNSEEN 1" in line, seen
    assert b.cmd("SELECT Archive")[0] == "OK"
    assert b.cmd("STORE 1 +FLAGS (\\Seen)")[0] == "OK"
    line, seen = a.wait_for(rb"\* STATUS Archive \(.*UNSEEN 0", 5)
    assert line is not None, seen


def test_mailbox_name_subscription_and_metadata(users):
    f, session = users
    a, b = session(), session()
    assert a.cmd("NOTIFY SET %s" % EVERYTHING)[0] == "OK"
    assert b.cmd("CREATE Foo")[0] == "OK"
    line, seen = a.wait_for(rb'\* LIST \(\) "/" Foo', 5)
    assert line is not None, seen
    assert b.cmd("RENAME Foo Bar")[0] == "OK"
    line, seen = a.wait_for(rb'\* LIST \(\) "/" Bar \("OLDNAME" \(Foo\)\)', 5)
    assert line is not None, seen
    assert b.cmd("SUBSCRIBE Bar")[0] == "OK"
    line, seen = a.wait_for(rb'\* LIST \(\\Subscribed\) "/" Bar', 5)
    assert line is not None, seen
    assert b.cmd("UNSUBSCRIBE Bar")[0] == "OK"
    line, seen = a.wait_for(rb'\* LIST \(\) "/" Bar\r?$', 5)
    assert line is not None, seen
    assert b.cmd('SETMETADATA Bar (/shared/comment "c" /private/comment "p")')[0] == "OK"
    line, seen = a.wait_for(rb"\* METADATA Bar ", 5)
    assert line is not None, seen
    assert b"/private/comment" in line and b"/shared/comment" in line
    assert b.cmd('SETMETADATA "" (/private/comment "server")')[0] == "OK"
    line, seen = a.wait_for(rb'\* METADATA "" /private/comment', 5)
    assert line is not None, seen
    assert b.cmd("DELETE Bar")[0] == "OK"
    line, seen = a.wait_for(rb'\* LIST \(\\NonExistent\) "/" Bar', 5)
    assert line is not None, seen


def test_filters_and_status_option(users):
    f, session = users
    a, b = session(), session()
    assert b.cmd("CREATE Lists")[0] == "OK"
    assert b.cmd("CREATE Lists/dev")[0] == "OK"
    append(b, "Lists/dev")
    # STATUS: the current numbers of each watched mailbox at once.
    typ, lines = a.cmd("NOTIFY SET STATUS (subtree Lists (MessageNew MessageExpunge))"
                       " (mailboxes Drafts (MessageNew MessageExpunge))")
    assert typ == "OK", lines
    names = {re.match(rb"\* STATUS (\S+)", l).group(1) for l in lines
             if l.startswith(b"* STATUS")}
    assert names == {b"Lists", b"Lists/dev", b"Drafts"}, lines
    assert any(b"Lists/dev (MESSAGES 1 " in l for l in lines)
    # Outside the filters: nothing.
    append(b, "Archive")
    assert not any(b"STATUS" in l for l in a.untagged(1.5))
    append(b, "Lists/dev")
    line, seen = a.wait_for(rb"\* STATUS Lists/dev \(MESSAGES 2 ", 5)
    assert line is not None, seen
    # NOTIFY NONE: silence.
    assert a.cmd("NOTIFY NONE")[0] == "OK"
    append(b, "Lists/dev")
    assert a.untagged(1.5) == []


def test_acl_no_events_without_lookup(users):
    f, session = users
    alice = session(ALICE)
    assert alice.cmd("CREATE Team")[0] == "OK"
    assert alice.cmd("SETACL Team %s lr" % BOB)[0] == "OK"
    bob, carol = session(BOB), session(CAROL)
    everything = ('(subtree "Other Users" (MessageNew MessageExpunge FlagChange'
                  ' MailboxName MailboxMetadataChange))')
    assert bob.cmd("NOTIFY SET %s" % everything)[0] == "OK"
    assert carol.cmd("NOTIFY SET %s" % everything)[0] == "OK"
    append(alice, "Team")
    line, seen = bob.wait_for(rb'\* STATUS "Other Users/alice@example.test/Team" \(MESSAGES 1', 5)
    assert line is not None, seen
    assert alice.cmd('SETMETADATA Team (/shared/comment "x")')[0] == "OK"
    line, seen = bob.wait_for(rb'\* METADATA "Other Users/alice@example.test/Team"', 5)
    assert line is not None, seen
    # Carol may not look Team up: not a word about it.
    assert carol.untagged(1.5) == []
    # Alice's private mailboxes stay silent for Bob too.
    append(alice, "Archive")
    assert not any(b"Archive" in l for l in bob.untagged(1.5))


def test_grant_and_revoke_after_notify_set(users):
    """A mailbox shared after NOTIFY SET by an owner the session was not
    watching is watched at once (no reconnect, no change of one's own), and
    a revoke ends its events."""
    f, session = users
    alice, bob = session(ALICE), session(BOB)
    assert alice.cmd("CREATE Later")[0] == "OK"
    assert bob.cmd('NOTIFY SET (subtree "Other Users" (MessageNew MessageExpunge'
                   ' MailboxName))')[0] == "OK"
    append(alice, "Later")
    assert bob.untagged(0.5) == []  # not shared yet: nothing
    assert alice.cmd("SETACL Later %s lr" % BOB)[0] == "OK"
    name = rb'"Other Users/alice@example.test/Later"'
    line, seen = bob.wait_for(rb"\* LIST \(\) \"/\" " + name, 5)
    assert line is not None, seen
    append(alice, "Later")
    line, seen = bob.wait_for(rb"\* STATUS " + name + rb" \(MESSAGES 2", 5)
    assert line is not None, seen
    assert alice.cmd("DELETEACL Later %s" % BOB)[0] == "OK"
    line, seen = bob.wait_for(rb"\* LIST \(\\NonExistent\) \"/\" " + name, 5)
    assert line is not None, seen
    append(alice, "Later")
    assert not any(b"Later" in l for l in bob.untagged(0.7))


@pytest.mark.parametrize("command,answer", [
    ("NOTIFY", b"BAD"),
    ("NOTIFY FOO", b"BAD"),
    ("NOTIFY SET", b"BAD"),
    ("NOTIFY SET STATUS", b"BAD"),
    ("NOTIFY NONE extra", b"BAD"),
    ("NOTIFY SET (personal (Bogus))", b"BAD"),
    ("NOTIFY SET (personal ())", b"BAD"),
    ("NOTIFY SET (personal)", b"BAD"),
    ("NOTIFY SET personal", b"BAD"),
    ("NOTIFY SET (nosuch (MessageNew MessageExpunge))", b"BAD"),
    ("NOTIFY SET (personal (MessageNew))", b"BAD"),
    ("NOTIFY SET (personal (FlagChange))", b"BAD"),
    ("NOTIFY SET (inboxes (MessageNew (UID) MessageExpunge))", b"BAD"),
    ("NOTIFY SET (selected (MessageNew (BODY[]) MessageExpunge))", b"BAD"),
    ("NOTIFY SET (selected (MessageNew MessageExpunge)) (selected-delayed NONE)", b"BAD"),
    ("NOTIFY SET (subtree (MessageNew MessageExpunge))", b"BAD"),
    ("NOTIFY SET (mailboxes () (MessageNew MessageExpunge))", b"BAD"),
    ("NOTIFY SET (personal (MessageNew MessageExpunge AnnotationChange))", b"NO [BADEVENT"),
])
def test_bad_input(users, command, answer):
    f, session = users
    a = session()
    typ, lines = a.cmd(command)
    assert lines[-1].split(b" ", 1)[1].startswith(answer), lines
    assert a.cmd("NOOP")[0] == "OK"


def test_not_authenticated(facteur):
    a = RawImap(facteur)
    typ, lines = a.cmd("NOTIFY NONE")
    assert typ == "BAD"
    a.close()
