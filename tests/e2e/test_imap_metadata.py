# SPDX-License-Identifier: MIT
"""METADATA and METADATA-SERVER (RFC 5464, issue 8 part 3): GETMETADATA with
MAXSIZE and DEPTH, SETMETADATA (set, replace, remove with NIL, several at
once, binary values), /private entries per user and /shared ones for all,
the server's entries (/shared/admin from the configuration, read-only
/shared, writable /private), the limits (METADATA MAXSIZE, TOOMANY,
LONGENTRIES), entries that follow RENAME and go with DELETE, rights on a
shared mailbox ('l' and 'r' to read, 'w' for /shared), and bad input
answered BAD. Client: raw IMAP over a socket (imaplib has no METADATA)."""
import re

import pytest

from imap_raw import RawImap

ALICE, BOB = "alice@example.test", "bob@example.test"
PW = "correct horse battery"
TEAM = '"Other Users/alice@example.test/Team"'


@pytest.fixture
def two(facteur):
    facteur.add_user(ALICE, PW)
    facteur.add_user(BOB, PW)
    a, b = RawImap(facteur, ALICE, PW), RawImap(facteur, BOB, PW)
    yield facteur, a, b
    a.close()
    b.close()


def meta(lines):
    """The entries of the untagged METADATA responses, as a dict."""
    out = {}
    for l in lines:
        if not l.startswith(b"* METADATA "):
            continue
        body = l[l.index(b"(") + 1:l.rindex(b")")]
        items, i = [], 0
        while i < len(body):
            if body[i:i + 1] == b" ":
                i += 1
                continue
            m = re.match(rb"~?\{(\d+)\}\r\n", body[i:])
            if m:
                n = int(m.group(1))
                start = i + m.end()
                items.append(body[start:start + n])
                i = start + n
            elif body[i:i + 1] == b'"':
                m = re.match(rb'"((?:[^"\\]|\\.)*)"', body[i:])
                items.append(re.sub(rb"\\(.)", rb"\1", m.group(1)))
                i += m.end()
            else:
                m = re.match(rb"[^ ]+", body[i:])
                items.append(None if m.group(0) == b"NIL" else m.group(0))
                i += m.end()
        for k in range(0, len(items), 2):
            out[items[k].decode()] = items[k + 1]
    return out


def test_capability_and_server_entries(two):
    f, a, b = two
    typ, lines = a.cmd("CAPABILITY")
    caps = lines[0].split()
    assert b"METADATA" in caps and b"METADATA-SERVER" in caps
    # /shared/admin comes from the configuration (postmaster_address).
    typ, lines = a.cmd('GETMETADATA "" /shared/admin')
    assert typ == "OK"
    assert meta(lines) == {"/shared/admin": b"mailto:postmaster@example.test"}
    # Server /shared entries are the administrator's.
    typ, lines = a.cmd('SETMETADATA "" (/shared/comment "mine")')
    assert typ == "NO" and b"[NOPERM]" in lines[-1]
    # Server /private entries are each user's.
    assert a.cmd('SETMETADATA "" (/private/comment "alice note")')[0] == "OK"
    typ, lines = a.cmd('GETMETADATA "" (/private/comment /shared/comment)')
    assert meta(lines) == {"/private/comment": b"alice note"}
    typ, lines = b.cmd('GETMETADATA "" /private/comment')
    assert typ == "OK" and meta(lines) == {}
    # DEPTH 1 below /shared: the administrator address.
    typ, lines = b.cmd('GETMETADATA (DEPTH 1) "" /shared')
    assert meta(lines) == {"/shared/admin": b"mailto:postmaster@example.test"}


def test_mailbox_entries_set_get_remove(two):
    f, a, b = two
    assert a.cmd('SETMETADATA INBOX (/shared/comment "Main box" /private/comment'
                 ' "just me")')[0] == "OK"
    typ, lines = a.cmd("GETMETADATA INBOX (/shared/comment /private/comment)")
    assert typ == "OK"
    assert meta(lines) == {"/shared/comment": b"Main box", "/private/comment": b"just me"}
    # Case-insensitive names; replace; remove with NIL.
    assert a.cmd('SETMETADATA inbox (/Shared/Comment "Renamed")')[0] == "OK"
    typ, lines = a.cmd("GETMETADATA INBOX /shared/comment")
    assert meta(lines) == {"/shared/comment": b"Renamed"}
    assert a.cmd("SETMETADATA INBOX (/shared/comment NIL)")[0] == "OK"
    typ, lines = a.cmd("GETMETADATA INBOX /shared/comment")
    assert typ == "OK" and meta(lines) == {}
    # A value holding a NUL, sent as literal8, comes back as one.
    typ, lines = a.cmd("SETMETADATA INBOX (/private/vendor/x/bin ~{3}", b"a\x00b)")
    assert typ == "OK", lines
    typ, lines = a.cmd("GETMETADATA INBOX /private/vendor/x/bin")
    assert b"~{3}" in lines[0]
    assert meta(lines) == {"/private/vendor/x/bin": b"a\x00b"}
    # A literal value with CR LF.
    typ, lines = a.cmd("SETMETADATA INBOX (/private/vendor/x/text {5}", b"a\r\nbc)")
    assert typ == "OK", lines
    typ, lines = a.cmd("GETMETADATA INBOX /private/vendor/x/text")
    assert meta(lines) == {"/private/vendor/x/text": b"a\r\nbc"}


def test_depth_and_maxsize(two):
    f, a, b = two
    assert a.cmd('SETMETADATA INBOX (/private/vendor/v "v" /private/vendor/v/a "1"'
                 ' /private/vendor/v/a/b "22222222")')[0] == "OK"
    typ, lines = a.cmd("GETMETADATA INBOX /private/vendor/v")
    assert meta(lines) == {"/private/vendor/v": b"v"}
    typ, lines = a.cmd("GETMETADATA (DEPTH 1) INBOX /private/vendor/v")
    assert meta(lines) == {"/private/vendor/v": b"v", "/private/vendor/v/a": b"1"}
    typ, lines = a.cmd("GETMETADATA (DEPTH infinity) INBOX /private/vendor/v")
    assert len(meta(lines)) == 3
    # Options after the mailbox, as RFC 5464's examples write them.
    typ, lines = a.cmd("GETMETADATA INBOX (MAXSIZE 4 DEPTH infinity) /private/vendor/v")
    assert typ == "OK"
    assert meta(lines) == {"/private/vendor/v": b"v", "/private/vendor/v/a": b"1"}
    assert b"[METADATA LONGENTRIES 8]" in lines[-1]


def test_limits(two):
    f, a, b = two
    big = b"x" * 16385
    typ, lines = a.cmd("SETMETADATA INBOX (/private/comment {%d}" % len(big), big + b")")
    assert typ == "NO" and b"[METADATA MAXSIZE 16384]" in lines[-1]
    ok = b"y" * 16384
    assert a.cmd("SETMETADATA INBOX (/private/comment {%d}" % len(ok), ok + b")")[0] == "OK"
    # 100 entries per mailbox and scope; the 101st is refused, nothing lands.
    pairs = " ".join('/private/vendor/n/e%d "v"' % i for i in range(99))
    assert a.cmd("SETMETADATA INBOX (%s)" % pairs)[0] == "OK"
    typ, lines = a.cmd('SETMETADATA INBOX (/private/vendor/n/e0 "changed" /private/more "1")')
    assert typ == "NO" and b"[METADATA TOOMANY]" in lines[-1]
    typ, lines = a.cmd("GETMETADATA INBOX /private/vendor/n/e0")
    assert meta(lines) == {"/private/vendor/n/e0": b"v"}
    # /shared has its own count.
    assert a.cmd('SETMETADATA INBOX (/shared/comment "fine")')[0] == "OK"


def test_rename_and_delete(two):
    f, a, b = two
    assert a.cmd("CREATE Projects")[0] == "OK"
    assert a.cmd('SETMETADATA Projects (/shared/comment "work")')[0] == "OK"
    assert a.cmd("RENAME Projects Work")[0] == "OK"
    typ, lines = a.cmd("GETMETADATA Work /shared/comment")
    assert meta(lines) == {"/shared/comment": b"work"}
    typ, lines = a.cmd("GETMETADATA Projects /shared/comment")
    assert typ == "NO" and b"[NONEXISTENT]" in lines[-1]
    assert a.cmd("DELETE Work")[0] == "OK"
    assert a.cmd("CREATE Work")[0] == "OK"
    typ, lines = a.cmd("GETMETADATA Work /shared/comment")
    assert typ == "OK" and meta(lines) == {}


def test_rights_on_shared_mailbox(two):
    f, a, b = two
    assert a.cmd("CREATE Team")[0] == "OK"
    assert a.cmd('SETMETADATA Team (/shared/comment "team")')[0] == "OK"
    # Without 'l' Bob sees no mailbox at all.
    typ, lines = b.cmd("GETMETADATA %s /shared/comment" % TEAM)
    assert typ == "NO" and b"[NONEXISTENT]" in lines[-1]
    # 'l' alone: no reading.
    assert a.cmd("SETACL Team %s l" % BOB)[0] == "OK"
    typ, lines = b.cmd("GETMETADATA %s /shared/comment" % TEAM)
    assert typ == "NO" and b"[NOPERM]" in lines[-1]
    # 'lr': reading /shared, writing /private (his own), not /shared.
    assert a.cmd("SETACL Team %s lr" % BOB)[0] == "OK"
    typ, lines = b.cmd("GETMETADATA %s /shared/comment" % TEAM)
    assert meta(lines) == {"/shared/comment": b"team"}
    assert b.cmd('SETMETADATA %s (/private/comment "bob only")' % TEAM)[0] == "OK"
    typ, lines = b.cmd('SETMETADATA %s (/shared/comment "hijack")' % TEAM)
    assert typ == "NO" and b"[NOPERM]" in lines[-1]
    typ, lines = a.cmd("GETMETADATA Team (/private/comment /shared/comment)")
    assert meta(lines) == {"/shared/comment": b"team"}
    # 'w' lets him write /shared.
    assert a.cmd("SETACL Team %s lrw" % BOB)[0] == "OK"
    assert b.cmd('SETMETADATA %s (/shared/comment "by bob")' % TEAM)[0] == "OK"
    typ, lines = a.cmd("GETMETADATA Team /shared/comment")
    assert meta(lines) == {"/shared/comment": b"by bob"}


@pytest.mark.parametrize("command", [
    "GETMETADATA",
    "GETMETADATA INBOX",
    "GETMETADATA INBOX comment",
    "GETMETADATA INBOX /other/comment",
    "GETMETADATA INBOX /private/a*b",
    "GETMETADATA INBOX /private//a",
    "GETMETADATA INBOX /private/a/",
    "GETMETADATA INBOX ()",
    "GETMETADATA (DEPTH 2) INBOX /private/comment",
    "GETMETADATA (MAXSIZE -1) INBOX /private/comment",
    "GETMETADATA (FOO 1) INBOX /private/comment",
    "GETMETADATA INBOX /private/comment extra",
    "SETMETADATA INBOX",
    "SETMETADATA INBOX ()",
    "SETMETADATA INBOX (/private/comment)",
    "SETMETADATA INBOX (/private \"x\")",
    "SETMETADATA INBOX (/private/comment atom)",
    "SETMETADATA INBOX (/private/comment \"x\") extra",
    "SETMETADATA INBOX /private/comment \"x\"",
])
def test_bad_input(two, command):
    f, a, b = two
    typ, lines = a.cmd(command)
    assert typ == "BAD", lines
    # The session goes on.
    assert a.cmd("NOOP")[0] == "OK"


def test_no_such_mailbox_and_state(facteur):
    facteur.add_user(ALICE, PW)
    a = RawImap(facteur)
    typ, lines = a.cmd("GETMETADATA INBOX /private/comment")
    assert typ == "BAD"  # not authenticated
    typ, lines = a.cmd('LOGIN "%s" "%s"' % (ALICE, PW))
    typ, lines = a.cmd("GETMETADATA Nope /private/comment")
    assert typ == "NO" and b"[NONEXISTENT]" in lines[-1]
    typ, lines = a.cmd('SETMETADATA Nope (/private/comment "x")')
    assert typ == "NO" and b"[NONEXISTENT]" in lines[-1]
    a.close()
