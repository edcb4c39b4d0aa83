# SPDX-License-Identifier: MIT
"""IMAP APPEND literals are spooled (issue 9 item 4): a big message is
read into a file beside the blobs, not into memory, and stored byte for
byte; several sessions holding unfinished big literals do not grow the
daemon's memory and do not stop another session from being answered.
MULTIAPPEND (RFC 3502): several messages in one APPEND, all or nothing,
with APPENDUID and a UID set (RFC 4315)."""
import imaplib
import os
import re
import time

from conftest import HOST, RawLine, make_message, wait_for
from test_spool import spool_files, status_kb

MB = 1024 * 1024
CONFIG = "max_message_size = 64M\nmax_connections_per_ip = 200\n"


def big_message(size, tag):
    """A message of about size bytes, every line different."""
    head = make_message("big " + tag, body="", msgid="<%s@client.example>" % tag)
    lines = [b"%s line %08d %s\r\n" % (tag.encode(), i, b"z" * 60)
             for i in range(size // 90)]
    return head + b"".join(lines)


def login(f):
    m = imaplib.IMAP4(HOST, f.ports["imap"], timeout=120)
    m.login(f.user, f.password)
    return m


def fetch_all(m, mailbox="INBOX"):
    typ, data = m.select(mailbox)
    assert typ == "OK"
    n = int(data[0])
    if n == 0:
        return []
    typ, data = m.uid("FETCH", "1:*", "(BODY.PEEK[])")
    assert typ == "OK"
    return [d[1] for d in data if isinstance(d, tuple)]


def raw_login(f, timeout=60):
    c = RawLine(f.ports["imap"], timeout=timeout)
    assert c.readline().startswith(b"* OK")
    c.send("l LOGIN %s %s\r\n" % (f.user, f.password))
    while True:
        line = c.readline()
        if line.startswith(b"l "):
            assert line.startswith(b"l OK"), line
            return c


def tagged(c, tag):
    """Lines up to and including the tagged reply to tag."""
    lines = []
    while True:
        line = c.readline()
        lines.append(line)
        if line.startswith(tag.encode() + b" "):
            return lines


def test_big_append_is_stored_byte_exact(make_facteur):
    f = make_facteur(extra_config=CONFIG)
    msg = big_message(6 * MB, "six")
    m = login(f)
    typ, data = m.append("INBOX", "(\\Flagged)", None, msg)
    assert typ == "OK", data
    assert re.search(rb"\[APPENDUID \d+ 1\]", data[0]), data
    assert fetch_all(m) == [msg]
    m.logout()
    # Nothing of it is left in blobs/tmp, and no spool file stays open.
    assert wait_for(lambda: spool_files(f.proc.pid) == 0, timeout=10)
    assert f.stop() == 0


def test_unfinished_append_literals_do_not_grow_memory(make_facteur, monkeypatch):
    # Under ASan, every freed 16 KiB read buffer would sit in its 256 MB
    # quarantine and count as resident: keep that small (no effect otherwise).
    monkeypatch.setenv("ASAN_OPTIONS", os.environ.get("ASAN_OPTIONS", "") + ":quarantine_size_mb=8")
    f = make_facteur(extra_config=CONFIG)
    pid = f.proc.pid
    m = login(f)
    m.append("INBOX", None, None, make_message("warm up"))  # workers, writer, caches
    before = status_kb(pid, "VmRSS")
    held = []
    chunk = b"x" * MB
    for i in range(6):
        c = raw_login(f)
        c.send("h%d APPEND INBOX {%d}\r\n" % (i, 40 * MB))
        assert c.readline().startswith(b"+ "), "no continuation"
        for _ in range(20):
            c.send(chunk)
        held.append(c)
    # All 120 MB were taken in (each session's bytes are in its spool file).
    assert wait_for(lambda: spool_files(pid) >= 6, timeout=60), spool_files(pid)
    time.sleep(0.5)
    grown = status_kb(pid, "VmRSS") - before
    # Input buffers and (under ASan) freed memory in quarantine, not literals.
    assert grown < 48 * 1024, "RSS grew by %d KiB with 120 MB of unfinished literals" % grown
    # Another session is answered at once.
    t0 = time.monotonic()
    assert m.noop()[0] == "OK"
    assert time.monotonic() - t0 < 2
    # One held message finished is stored whole.
    rest = 40 * MB - 20 * MB
    for _ in range(rest // MB):
        held[0].send(chunk)
    held[0].send(b"\r\n")
    lines = tagged(held[0], "h0")
    assert lines[-1].startswith(b"h0 OK [APPENDUID"), lines
    typ, data = m.select("INBOX")
    typ, data = m.fetch(data[0].decode(), "(RFC822.SIZE)")
    assert b"RFC822.SIZE %d" % (40 * MB) in data[0], data
    for c in held:
        c.close()
    assert wait_for(lambda: spool_files(pid) == 0, timeout=20), spool_files(pid)
    m.logout()
    assert f.stop() == 0


def count(m, mailbox="INBOX"):
    typ, data = m.select(mailbox)
    return int(data[0])


def test_multiappend_all_messages_with_uid_set(make_facteur):
    f = make_facteur(extra_config=CONFIG)
    m = login(f)
    typ, caps = m.capability()
    assert b"MULTIAPPEND" in caps[0].split()
    msgs = [make_message("multi one"), big_message(3 * MB, "multi"), make_message("multi three")]
    c = raw_login(f)
    # LITERAL+: the whole command in one go, each message with its own flags.
    c.send(b"t APPEND INBOX (\\Seen) {%d+}\r\n%s (\\Flagged) {%d+}\r\n%s {%d+}\r\n%s\r\n" % (
        len(msgs[0]), msgs[0], len(msgs[1]), msgs[1], len(msgs[2]), msgs[2]))
    lines = tagged(c, "t")
    mo = re.match(rb"t OK \[APPENDUID (\d+) 1:3\]", lines[-1])
    assert mo, lines
    assert fetch_all(m) == msgs
    typ, data = m.fetch("1:3", "(FLAGS)")
    assert b"\\Seen" in data[0] and b"\\Flagged" in data[1] and b"\\Flagged" not in data[2]
    # A second MULTIAPPEND with synchronising literals gets the next UIDs.
    c.send("u APPEND INBOX {%d}\r\n" % len(msgs[0]))
    assert c.readline().startswith(b"+ ")
    c.send(msgs[0] + b" {%d}\r\n" % len(msgs[2]))
    assert c.readline().startswith(b"+ ")
    c.send(msgs[2] + b"\r\n")
    assert tagged(c, "u")[-1].startswith(b"u OK [APPENDUID %s 4:5]" % mo.group(1))
    c.close()
    m.logout()
    assert f.stop() == 0


def test_multiappend_bad_second_message_appends_nothing(make_facteur):
    f = make_facteur(extra_config=CONFIG)
    m = login(f)
    first = make_message("would be first")
    c = raw_login(f)
    # The second literal is over max_message_size: NO [TOOBIG] instead of "+".
    c.send("t APPEND INBOX {%d}\r\n" % len(first))
    assert c.readline().startswith(b"+ ")
    c.send(first + b" (\\Seen) {%d}\r\n" % (65 * MB))
    line = c.readline()
    assert line.startswith(b"t NO [TOOBIG]"), line
    # An empty second message: NO, nothing stored either.
    c.send(b"u APPEND INBOX {%d+}\r\n%s {0+}\r\n\r\n" % (len(first), first))
    assert tagged(c, "u")[-1].startswith(b"u NO"), "empty message accepted"
    # A second message into nowhere cannot be: the mailbox is one for all.
    c.send(b"v APPEND INBOX {%d+}\r\n%s junk\r\n" % (len(first), first))
    assert tagged(c, "v")[-1].startswith(b"v BAD")
    # The session goes on.
    c.send(b"w NOOP\r\n")
    assert tagged(c, "w")[-1].startswith(b"w OK")
    assert count(m) == 0
    c.close()
    m.logout()
    assert f.stop() == 0


def test_multiappend_over_quota_is_all_or_nothing(make_facteur):
    """Each message fits the quota, the two together do not: the store
    writer runs them as one group, so the first is rolled back too."""
    f = make_facteur(extra_config=CONFIG)
    f.cli("user", "quota", f.user, "1M")
    m = login(f)
    a, b = big_message(600 * 1024, "qa"), big_message(600 * 1024, "qb")
    c = raw_login(f)
    c.send(b"t APPEND INBOX {%d+}\r\n%s {%d+}\r\n%s\r\n" % (len(a), a, len(b), b))
    line = tagged(c, "t")[-1]
    assert line.startswith(b"t NO [OVERQUOTA]"), line
    assert count(m) == 0
    # Each alone fits.
    c.send(b"u APPEND INBOX {%d+}\r\n%s\r\n" % (len(a), a))
    assert tagged(c, "u")[-1].startswith(b"u OK [APPENDUID")
    assert fetch_all(m) == [a]
    c.close()
    m.logout()
    assert f.stop() == 0


def test_catenate_text_and_urls(make_facteur):
    """CATENATE (RFC 4469) through the store writer: a big message from
    TEXT literals and URLs of the user's own messages, parts included; a
    bad URL is NO [BADURL url] and nothing is appended."""
    f = make_facteur(extra_config=CONFIG)
    m = login(f)
    typ, caps = m.capability()
    assert b"CATENATE" in caps[0].split()
    src = big_message(2 * MB, "src")
    typ, data = m.append("INBOX", None, None, src)
    uidvalidity = re.search(rb"APPENDUID (\d+) 1", data[0]).group(1).decode()
    head = b"Subject: built\r\nFrom: a@example.test\r\n\r\n"
    c = raw_login(f)
    c.send(b"t APPEND INBOX (\\Seen) CATENATE (TEXT {%d}\r\n" % len(head))
    assert c.readline().startswith(b"+ ")
    c.send(head + b' URL "/INBOX;UIDVALIDITY=%s/;UID=1/;SECTION=TEXT"'
           b" TEXT {2+}\r\n--)\r\n" % uidvalidity.encode())
    line = tagged(c, "t")[-1]
    assert line.startswith(b"t OK [APPENDUID %s 2]" % uidvalidity.encode()), line
    body = src.split(b"\r\n\r\n", 1)[1]
    assert fetch_all(m) == [src, head + body + b"--"]
    for url in ("/INBOX/;UID=7", "/INBOX;UIDVALIDITY=1/;UID=1", "/Trash/;UID=1",
                "imap://demo@mx.example.test/INBOX/;UID=1"):
        c.send(b'u APPEND INBOX CATENATE (URL "%s" TEXT {1+}\r\nx)\r\n' % url.encode())
        line = tagged(c, "u")[-1]
        assert line.startswith(b"u NO [BADURL %s]" % url.encode()), line
    assert count(m) == 2
    c.close()
    m.logout()
    assert f.stop() == 0
