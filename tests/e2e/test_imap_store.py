# SPDX-License-Identifier: MIT
"""STORE (flags, keywords, .SILENT, UNCHANGEDSINCE), COPY and MOVE (COPYUID
checked against the destination, TRYCREATE, a second session seeing the
MOVE as EXPUNGE) with Python's imaplib."""
import imaplib
import re

import pytest

from conftest import HOST, make_message, send_mx

imaplib.Commands.setdefault("MOVE", ("SELECTED",))


def login(f, select="INBOX", readonly=False):
    m = imaplib.IMAP4(HOST, f.ports["imap"], timeout=10)
    assert m.login(f.user, f.password)[0] == "OK"
    if select:
        assert m.select(select, readonly=readonly)[0] == "OK"
    return m


@pytest.fixture
def mailbox(facteur):
    for i in range(1, 5):
        assert send_mx(facteur, make_message("message %d" % i, body="body %d\r\n" % i)) == {}
    return facteur


def flags_of(m, seq):
    """The stored flags (\\Recent, a session's own, left out)."""
    m.untagged_responses.pop("FETCH", None)
    typ, data = m.fetch(str(seq), "(FLAGS)")
    assert typ == "OK"
    return set(re.search(rb"FLAGS \(([^)]*)\)", data[0]).group(1).decode().split()) - {"\\Recent"}


def test_store_flags_keywords(mailbox):
    m = login(mailbox)
    typ, data = m.store("1", "+FLAGS", "(\\Seen $Important)")
    assert typ == "OK"
    assert b"\\Seen" in data[0] and b"$Important" in data[0]
    assert flags_of(m, 1) == {"\\Seen", "$Important"}
    typ, data = m.store("1", "-FLAGS", "($Important)")
    assert typ == "OK" and flags_of(m, 1) == {"\\Seen"}
    typ, data = m.store("1:2", "FLAGS", "(\\Flagged work)")
    assert typ == "OK"
    assert flags_of(m, 1) == {"\\Flagged", "work"} == flags_of(m, 2)
    typ, data = m.search(None, "KEYWORD", "work")
    assert data[0].split() == [b"1", b"2"]
    # .SILENT: no FETCH for our own change.
    m.untagged_responses.clear()
    typ, data = m.store("3", "+FLAGS.SILENT", "(\\Deleted)")
    assert typ == "OK" and data == [None]
    assert "FETCH" not in m.untagged_responses
    assert flags_of(m, 3) == {"\\Deleted"}
    # UID STORE reports UIDs.
    typ, data = m.uid("STORE", "4", "+FLAGS", "(\\Answered)")
    assert typ == "OK" and b"UID 4" in data[0]
    # Bad flags.
    for bad in ("(\\Recent)", "(\\Bogus)", "(a\"b)"):
        with pytest.raises(imaplib.IMAP4.error):
            m.store("1", "+FLAGS", bad)
    with pytest.raises(imaplib.IMAP4.error):
        m.store("99", "+FLAGS", "(\\Seen)")
    m.logout()


def test_store_unchangedsince(mailbox):
    m = login(mailbox)
    other = login(mailbox)
    typ, data = m.fetch("1:2", "(MODSEQ)")
    modseqs = [int(re.search(rb"MODSEQ \((\d+)\)", d).group(1)) for d in data]
    assert other.store("1", "+FLAGS", "(\\Seen)")[0] == "OK"
    typ, data = m._simple_command("STORE", "1:2", "(UNCHANGEDSINCE %d)" % max(modseqs),
                                  "+FLAGS", "(\\Flagged)")
    assert typ == "OK"
    assert b"[MODIFIED 1]" in data[0], data
    assert flags_of(m, 1) == {"\\Seen"}
    assert flags_of(m, 2) == {"\\Flagged"}
    m.logout()
    other.logout()


def test_store_read_only(mailbox):
    m = login(mailbox, readonly=True)
    typ, data = m.store("1", "+FLAGS", "(\\Seen)")
    assert typ == "NO", data
    typ, data = m._simple_command("MOVE", "1", "Archive")
    assert typ == "NO", data
    typ, data = m.copy("1", "Archive")
    assert typ == "OK" and b"COPYUID" in data[0], data
    m.logout()


def copyuid(data):
    match = re.search(rb"\[COPYUID (\d+) ([\d:,]+) ([\d:,]+)\]", data)
    assert match, data
    return int(match.group(1)), match.group(2).decode(), match.group(3).decode()


def expand(s):
    out = []
    for part in s.split(","):
        a, _, b = part.partition(":")
        out.extend(range(int(a), int(b or a) + 1))
    return out


def test_copy_move(mailbox):
    m = login(mailbox)
    watcher = login(mailbox)
    assert m.store("2", "+FLAGS", "(\\Flagged)")[0] == "OK"
    typ, data = m.copy("2:3", "Archive")
    assert typ == "OK"
    validity, src, dst = copyuid(data[0])
    assert expand(src) == [2, 3]
    # The destination holds those UIDs, with the flags copied.
    arch = login(mailbox, select="Archive")
    typ, status = arch.status("Archive", "(UIDVALIDITY)")
    assert b"UIDVALIDITY %d" % validity in status[0]
    typ, data = arch.uid("SEARCH", "FLAGGED")
    assert [int(x) for x in data[0].split()] == [expand(dst)[0]]
    typ, data = arch.uid("FETCH", dst, "(BODY.PEEK[HEADER.FIELDS (SUBJECT)])")
    subjects = [d[1] for d in data if isinstance(d, tuple)]
    assert [b"message 2" in subjects[0], b"message 3" in subjects[1]] == [True, True]
    arch.logout()
    # MOVE: untagged COPYUID before the EXPUNGEs.
    typ, data = m.uid("MOVE", "1,4", "Archive")
    assert typ == "OK"
    ok = m.untagged_responses.pop("OK", [])
    moved = [copyuid(x) for x in ok if b"COPYUID" in x]
    assert moved and expand(moved[0][1]) == [1, 4]
    assert m.untagged_responses.pop("EXPUNGE", []) != []
    typ, data = m.search(None, "ALL")
    assert data[0].split() == [b"1", b"2"]
    # The watcher sees the messages go.
    assert watcher.noop()[0] == "OK"
    expunged = watcher.untagged_responses.pop("EXPUNGE", [])
    assert sorted(expunged) == [b"1", b"3"] or len(expunged) == 2, expunged
    typ, data = watcher.search(None, "ALL")
    assert data[0].split() == [b"1", b"2"]
    # Missing destination.
    typ, data = m.copy("1", "Nowhere")
    assert typ == "NO" and b"[TRYCREATE]" in data[0]
    typ, data = m._simple_command("MOVE", "1", "Nowhere")
    assert typ == "NO" and b"[TRYCREATE]" in data[0]
    m.logout()
    watcher.logout()
