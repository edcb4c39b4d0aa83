# SPDX-License-Identifier: MIT
"""The selected-mailbox lifecycle over IMAP against Python's imaplib (and a
raw socket where imaplib cannot express the exchange): SELECT / EXAMINE
responses, APPEND with flags and date (APPENDUID, TRYCREATE, TOOBIG without
reading the literal), EXPUNGE numbering and UID EXPUNGE, CLOSE versus
UNSELECT, two sessions seeing each other's changes on NOOP, IDLE woken by
an SMTP delivery within about a second, and bad input."""
import imaplib
import re
import time

import pytest

from conftest import HOST, RawLine, make_message, send_mx


def imap_login(f):
    m = imaplib.IMAP4(HOST, f.ports["imap"], timeout=30)
    m.login(f.user, f.password)
    return m


class RawImap(RawLine):
    """Line-level IMAP for the exchanges imaplib hides or refuses."""

    def __init__(self, f, login=True):
        super().__init__(f.ports["imap"])
        assert self.readline().startswith(b"* OK")
        self.n = 0
        if login:
            typ, _ = self.cmd("LOGIN %s %s" % (f.user, f.password))
            assert typ == b"OK"

    def cmd(self, text, tag=None):
        """Send one command; (status, [every line up to the tagged one])."""
        self.n += 1
        tag = tag or ("r%d" % self.n)
        self.send("%s %s\r\n" % (tag, text))
        return self.until_tagged(tag)

    def until_tagged(self, tag):
        lines = []
        while True:
            line = self.readline()
            lines.append(line)
            if line.startswith(tag.encode() + b" "):
                return line.split(b" ")[1], lines


def untagged(m, name):
    return m.untagged_responses.get(name, [])


def append_simple(m, subject, flags=None, box="INBOX"):
    typ, data = m.append(box, flags, None, make_message(subject))
    assert typ == "OK", data
    return data


def mailbox_count(f, box="INBOX"):
    m = imap_login(f)
    typ, data = m.select(box, readonly=True)
    assert typ == "OK", data
    m.logout()
    return int(data[0])


def test_select_and_examine(facteur):
    for i in range(3):
        assert send_mx(facteur, make_message("select %d" % i)) == {}
    m = imap_login(facteur)
    typ, data = m.select("INBOX")
    assert typ == "OK" and data == [b"3"]
    assert untagged(m, "FLAGS") == [rb"(\Answered \Flagged \Deleted \Seen \Draft)"]
    assert untagged(m, "RECENT") == [b"3"]  # the first session to select them
    assert untagged(m, "UNSEEN") == [b"1"]
    assert untagged(m, "UIDNEXT") == [b"4"]
    assert int(untagged(m, "UIDVALIDITY")[0]) > 0
    assert int(untagged(m, "HIGHESTMODSEQ")[0]) > 0
    assert rb"\*" in untagged(m, "PERMANENTFLAGS")[0]
    assert untagged(m, "READ-WRITE") == [b""]
    assert re.match(rb"\(M\d+\)$", untagged(m, "MAILBOXID")[0])
    # EXAMINE: read-only, no permanent flags; EXPUNGE is refused.
    typ, data = m.select("INBOX", readonly=True)
    assert typ == "OK" and data == [b"3"]
    assert untagged(m, "PERMANENTFLAGS") == [b"()"]
    assert "READ-ONLY" in m.untagged_responses
    typ, data = m._simple_command("EXPUNGE")
    assert typ == "NO" and b"READ-ONLY" in data[-1], data
    m.logout()


def test_select_switch_sends_closed(facteur):
    r = RawImap(facteur)
    typ, lines = r.cmd("SELECT INBOX")
    assert typ == b"OK" and lines[-1].startswith(b"r2 OK [READ-WRITE]")
    typ, lines = r.cmd("EXAMINE Sent")
    assert typ == b"OK"
    assert lines[0].startswith(b"* OK [CLOSED]"), lines
    assert b"[READ-ONLY]" in lines[-1]
    typ, lines = r.cmd("SELECT Nonexistent")
    assert typ == b"NO" and b"[NONEXISTENT]" in lines[-1]
    # The failed SELECT left no mailbox selected.
    typ, lines = r.cmd("CLOSE")
    assert typ == b"BAD"
    r.close()


def test_condstore_qresync_select(facteur):
    m = imap_login(facteur)
    append_simple(m, "one")
    append_simple(m, "two", r"(\Seen $Work)")
    append_simple(m, "three", r"(\Deleted)")
    m.select("INBOX")
    uidvalidity = int(untagged(m, "UIDVALIDITY")[0])
    m.expunge()
    m.logout()
    r = RawImap(facteur)
    assert r.cmd("ENABLE QRESYNC")[0] == b"OK"
    typ, lines = r.cmd("SELECT INBOX (QRESYNC (%d 1))" % uidvalidity)
    assert typ == b"OK", lines
    text = b"".join(lines)
    assert b"* VANISHED (EARLIER) 3\r\n" in text, text
    assert re.search(rb"\* 2 FETCH \(UID 2 FLAGS \(\\Seen \$Work\) MODSEQ \(\d+\)\)", text), text
    r.close()


def test_append_flags_date_appenduid(facteur):
    m = imap_login(facteur)
    typ, data = m.append("INBOX", r"(\Seen \Flagged $Work)", '"05-Mar-2024 10:11:12 +0100"',
                         make_message("appended"))
    assert typ == "OK", data
    mo = re.match(rb"\[APPENDUID (\d+) (\d+)\]", data[0])
    assert mo, data
    uidvalidity, uid = int(mo.group(1)), int(mo.group(2))
    assert uid == 1
    typ, data = m.append("INBOX", None, None, make_message("second"))
    assert re.match(rb"\[APPENDUID %d 2\]" % uidvalidity, data[0]), data
    typ, data = m.select("INBOX")
    assert data == [b"2"]
    assert int(untagged(m, "UIDVALIDITY")[0]) == uidvalidity
    # The first message is \Seen: the first unseen is the second one.
    assert untagged(m, "UNSEEN") == [b"2"]
    assert b"$Work" in untagged(m, "FLAGS")[0]
    # FETCH is another file's work: use it when it is there.
    typ, data = m._simple_command("FETCH", "1", "(FLAGS INTERNALDATE)")
    if typ == "OK":
        fetched = m.untagged_responses.pop("FETCH", [b""])[0]
        assert b"05-Mar-2024 10:11:12 +0100" in fetched or b"05-Mar-2024 09:11:12 +0000" in fetched, fetched
        for flag in (rb"\Seen", rb"\Flagged", b"$Work"):
            assert flag in fetched, fetched
    m.logout()


def test_append_trycreate_and_bad_input(facteur):
    m = imap_login(facteur)
    typ, data = m.append("Nowhere", None, None, make_message("lost"))
    assert typ == "NO" and data[0].startswith(b"[TRYCREATE]"), data
    m.logout()
    r = RawImap(facteur)
    # A name that cannot exist: NO without TRYCREATE.
    typ, lines = r.cmd('APPEND "bad*name" {8+}\r\nX: y\r\n\r\n')
    assert typ == b"NO" and b"TRYCREATE" not in lines[-1], lines
    for date in ("5-Mar-2024 10:11:12 +0100", "31-Feb-2024 10:11:12 +0100",
                 "05-Mar-2024 10:11:12", "2024-03-05T10:11:12Z"):
        typ, lines = r.cmd('APPEND INBOX "%s" {8+}\r\nX: y\r\n\r\n' % date)
        assert typ == b"BAD", (date, lines)
    typ, lines = r.cmd("APPEND INBOX (\\Bogus) {8+}\r\nX: y\r\n\r\n")
    assert typ == b"BAD", lines
    r.close()
    assert mailbox_count(facteur) == 0


def test_append_too_big_not_read(make_facteur):
    f = make_facteur(extra_config="max_message_size = 2048")
    r = RawImap(f)
    r.send("big APPEND INBOX {5000}\r\n")
    line = r.readline()
    # The answer replaces the "+": the client never sends the literal.
    assert line.startswith(b"big NO [TOOBIG]"), line
    typ, lines = r.cmd("NOOP")
    assert typ == b"OK", lines
    # A literal that fits is still accepted.
    r.send("fit APPEND INBOX {8}\r\n")
    assert r.readline().startswith(b"+ ")
    r.send("X: y\r\n\r\n\r\n")
    typ, lines = r.until_tagged("fit")
    assert typ == b"OK" and b"[APPENDUID" in lines[-1], lines
    r.close()
    m = imap_login(f)
    typ, data = m.append("INBOX", None, None, b"Subject: big\r\n\r\n" + b"x" * 4000 + b"\r\n")
    assert typ == "NO" and b"TOOBIG" in data[0], data
    m.logout()
    assert mailbox_count(f) == 1


def test_expunge_numbering(facteur):
    m = imap_login(facteur)
    for i in range(5):
        append_simple(m, "e%d" % i, r"(\Deleted)" if i in (1, 2) else None)
    typ, data = m.select("INBOX")
    assert data == [b"5"]
    typ, data = m.expunge()
    assert typ == "OK"
    # Expunging 2 and 3 of 5: "* 2 EXPUNGE" twice, or 3 then 2.
    assert data in ([b"2", b"2"], [b"3", b"2"]), data
    typ, data = m.select("INBOX")
    assert data == [b"3"]
    typ, data = m.expunge()
    assert data == [None]
    m.logout()


def test_uid_expunge(facteur):
    m = imap_login(facteur)
    for i in range(3):
        append_simple(m, "u%d" % i, r"(\Deleted)")
    m.select("INBOX")
    typ, data = m.uid("EXPUNGE", "2")
    assert typ == "OK"
    assert untagged(m, "EXPUNGE") in ([b"2"], []), data
    typ, data = m.select("INBOX")
    assert data == [b"2"]
    with pytest.raises(imaplib.IMAP4.error):
        m.uid("EXPUNGE", "x:y")
    m.logout()


def test_close_versus_unselect(facteur):
    m = imap_login(facteur)
    append_simple(m, "keep")
    append_simple(m, "drop", r"(\Deleted)")
    m.select("INBOX")
    typ, _ = m.unselect()
    assert typ == "OK"
    assert mailbox_count(facteur) == 2
    # EXAMINE then CLOSE: read-only, nothing removed.
    m.select("INBOX", readonly=True)
    m.close()
    assert mailbox_count(facteur) == 2
    m.select("INBOX")
    typ, _ = m.close()
    assert typ == "OK"
    assert "EXPUNGE" not in m.untagged_responses
    assert mailbox_count(facteur) == 1
    m.logout()


def test_two_sessions_see_each_other(facteur):
    a = imap_login(facteur)
    b = imap_login(facteur)
    append_simple(a, "first")
    a.select("INBOX")
    b.select("INBOX")
    append_simple(a, "second", r"(\Deleted)")
    b.noop()
    assert untagged(b, "EXISTS")[-1] == b"2"
    b.untagged_responses.clear()
    typ, data = a.expunge()
    assert data == [b"2"]
    b.noop()
    assert untagged(b, "EXPUNGE") == [b"2"], b.untagged_responses
    # Flags set by one session reach the other as FETCH FLAGS.
    typ, _ = a.store("1", "+FLAGS", r"(\Flagged $Work)")
    assert typ == "OK"
    b.untagged_responses.clear()
    b.noop()
    fetched = untagged(b, "FETCH")
    assert fetched and rb"\Flagged" in fetched[0] and b"$Work" in fetched[0], b.untagged_responses
    # An SMTP delivery, too.
    assert send_mx(facteur, make_message("third")) == {}
    b.untagged_responses.clear()
    b.check()
    assert untagged(b, "EXISTS")[-1] == b"2"
    a.logout()
    b.logout()


def test_idle_woken_by_smtp(facteur):
    r = RawImap(facteur)
    typ, lines = r.cmd("SELECT INBOX")
    assert b"* 0 EXISTS\r\n" in lines
    r.send("idle IDLE\r\n")
    assert r.readline().startswith(b"+ ")
    assert r.nothing_pending(0.5)
    start = time.monotonic()
    assert send_mx(facteur, make_message("wake up")) == {}
    delivered = time.monotonic()
    r.sock.settimeout(3)
    line = r.readline()
    woke = time.monotonic()
    assert line == b"* 1 EXISTS\r\n", line
    # Within a second of the delivery (3 s allowed for a loaded machine).
    assert woke - delivered < 3.0, (woke - start, woke - delivered)
    r.sock.settimeout(10)
    r.send("DONE\r\n")
    typ, lines = r.until_tagged("idle")
    assert typ == b"OK", lines
    r.close()


def test_idle_done_and_bad_line(facteur):
    r = RawImap(facteur)
    r.cmd("SELECT INBOX")
    r.send("i1 IDLE\r\n")
    assert r.readline().startswith(b"+ ")
    r.send("DONE\r\n")
    typ, lines = r.until_tagged("i1")
    assert typ == b"OK" and lines == [b"i1 OK IDLE terminated\r\n"]
    r.send("i2 IDLE\r\n")
    assert r.readline().startswith(b"+ ")
    r.send("i3 NOOP\r\n")
    typ, lines = r.until_tagged("i2")
    assert typ == b"BAD", lines
    # IDLE in the authenticated state works too.
    assert r.cmd("UNSELECT")[0] == b"OK"
    r.send("i4 IDLE\r\n")
    assert r.readline().startswith(b"+ ")
    r.send("done\r\n")
    assert r.until_tagged("i4")[0] == b"OK"
    r.close()


def test_wrong_state(facteur):
    r = RawImap(facteur, login=False)
    for c in ("SELECT INBOX", "EXAMINE INBOX", "IDLE", "APPEND INBOX {8+}\r\nX: y\r\n\r\n",
              "EXPUNGE", "CLOSE"):
        typ, lines = r.cmd(c)
        assert typ == b"BAD", (c, lines)
    r.close()
    # A fresh session: ten BADs would end this one.
    r = RawImap(facteur)
    for c in ("EXPUNGE", "UID EXPUNGE 1", "CLOSE", "UNSELECT", "CHECK"):
        typ, lines = r.cmd(c)
        assert typ == b"BAD", (c, lines)
    typ, lines = r.cmd("SELECT INBOX (UNKNOWN)")
    assert typ == b"BAD", lines
    typ, lines = r.cmd("SELECT INBOX (QRESYNC (1 1))")
    assert typ == b"BAD", lines  # QRESYNC not enabled
    r.close()
