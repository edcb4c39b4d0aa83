# SPDX-License-Identifier: MIT
"""Unfinished messages are spooled, not held in memory (issue 9 item 4).
Many MX clients sending big DATA bodies without the final dot must not
grow the daemon's memory with what they send, must not kill it under an
address-space cap, and must not stop others from being served; a message
that does arrive complete is stored byte for byte. The bytes of
unauthenticated sessions are bounded by spool_unauth_max: past it, that
message gets 452 4.3.1 and the session goes on."""
import imaplib
import os
import subprocess
import time

from conftest import HOST, RawLine, make_message, send_mx, wait_for

MB = 1024 * 1024
CONFIG = "max_message_size = 64M\nmax_connections_per_ip = 200\nsmtp_timeout = 120\n"


def status_kb(pid, key):
    for line in open("/proc/%d/status" % pid):
        if line.startswith(key + ":"):
            return int(line.split()[1])
    raise AssertionError("no " + key)


def open_data(f, rcpt="demo@example.test"):
    c = RawLine(f.ports["smtp"], timeout=60)
    assert c.smtp_reply()[0] == 220
    assert c.smtp_cmd("EHLO client.example")[0] == 250
    assert c.smtp_cmd("MAIL FROM:<big@example.org>")[0] == 250
    assert c.smtp_cmd("RCPT TO:<%s>" % rcpt)[0] == 250
    assert c.smtp_cmd("DATA")[0] == 354
    return c


def body_of(size, tag):
    """A message of about size bytes with CRLF lines, unique per tag."""
    line = (b"%s " % tag.encode()) + b"x" * 70 + b"\r\n"
    head = make_message("big " + tag, body="", msgid="<%s@client.example>" % tag)
    return head + line * (size // len(line))


def spool_files(pid):
    """Open spool files of the daemon (O_TMPFILE shows as '#… (deleted)')."""
    n = 0
    for fd in os.listdir("/proc/%d/fd" % pid):
        try:
            target = os.readlink("/proc/%d/fd/%s" % (pid, fd))
        except OSError:
            continue
        if "/blobs/tmp/" in target:
            n += 1
    return n


def hold_many(f, n, size):
    """n sessions each in DATA with size bytes sent and no final dot."""
    held = []
    for i in range(n):
        c = open_data(f)
        c.send(body_of(size, "held%d" % i))
        held.append(c)
    pid = f.proc.pid
    # Everything sent has been taken in (spooled) by the daemon.
    assert wait_for(lambda: spool_files(pid) >= n, timeout=60), spool_files(pid)
    return held


def fetch_last(f):
    m = imaplib.IMAP4(HOST, f.ports["imap"], timeout=60)
    m.login(f.user, f.password)
    typ, data = m.select("INBOX")
    n = int(data[0])
    typ, data = m.fetch(str(n), "(BODY.PEEK[])")
    m.logout()
    return data[0][1]


def others_work(f):
    msg = make_message("small while big ones wait")
    assert send_mx(f, msg) == {}
    assert fetch_last(f).endswith(msg)


def finish_one(c, size, tag):
    """Send the rest of a held message and its end; it must be stored whole."""
    c.send(b"tail of the message\r\n.\r\n")
    code, lines = c.smtp_reply()
    assert code == 250, lines
    return body_of(size, tag) + b"tail of the message\r\n"


def small_quarantine(monkeypatch):
    """Under ASan every freed read buffer would sit in its 256 MB quarantine
    and count as resident or as address space: keep it small (no effect on
    a build without ASan)."""
    monkeypatch.setenv("ASAN_OPTIONS", os.environ.get("ASAN_OPTIONS", "")
                       + ":quarantine_size_mb=8:allocator_may_return_null=1")


def test_unfinished_data_does_not_grow_memory(make_facteur, monkeypatch):
    small_quarantine(monkeypatch)
    f = make_facteur(extra_config=CONFIG)
    pid = f.proc.pid
    others_work(f)  # warm up: workers, store writer, caches
    before = status_kb(pid, "VmRSS")
    size = 16 * MB
    held = hold_many(f, 12, size)  # 192 MB in flight
    grown = status_kb(pid, "VmRSS") - before
    # Input buffers and (under ASan) freed memory in quarantine, not bodies.
    assert grown < 64 * 1024, "RSS grew by %d KiB with 192 MB unfinished" % grown
    others_work(f)
    expected = finish_one(held[0], size, "held0")
    raw = fetch_last(f)
    assert raw.endswith(expected) and raw.startswith(b"Return-Path: <big@example.org>\r\n")
    assert len(raw) - len(expected) < 400  # only Return-Path and Received were added
    for c in held[1:]:
        c.close()
    # The abandoned messages' files go with their sessions.
    assert wait_for(lambda: spool_files(pid) == 0, timeout=20), spool_files(pid)
    assert f.stop() == 0


def test_address_space_cap_does_not_kill_the_daemon(make_facteur, monkeypatch):
    small_quarantine(monkeypatch)
    f = make_facteur(extra_config=CONFIG)
    pid = f.proc.pid
    others_work(f)
    time.sleep(0.5)
    # 150 MB of address space left; 30 unfinished 8 MB messages want 240.
    cap = (status_kb(pid, "VmSize") + 150 * 1024) * 1024
    subprocess.run(["prlimit", "--pid", str(pid), "--as=%d:%d" % (cap, cap)], check=True)
    size = 8 * MB
    held = hold_many(f, 30, size)
    assert f.proc.poll() is None, f.logs()[-3000:]
    others_work(f)
    expected = finish_one(held[-1], size, "held29")
    assert fetch_last(f).endswith(expected)
    for c in held:
        c.close()
    assert f.proc.poll() is None
    assert "out of memory" not in f.logs()
    assert f.stop() == 0


def test_unauthenticated_budget_refuses_with_452_and_goes_on(make_facteur):
    f = make_facteur(extra_config=CONFIG + "spool_unauth_max = 1M\n")
    a = open_data(f)
    a.send(body_of(MB // 2, "first"))  # half the budget, held
    b = open_data(f)
    b.send(body_of(MB, "second") + b".\r\n")  # over what is left
    code, lines = b.smtp_reply()
    assert code == 452 and b"4.3.1" in lines[0], lines
    assert "smtp.spool_failed" in f.logs()
    # The session goes on: the next transaction fits and is delivered.
    assert b.smtp_cmd("MAIL FROM:<big@example.org>")[0] == 250
    assert b.smtp_cmd("RCPT TO:<demo@example.test>")[0] == 250
    assert b.smtp_cmd("DATA")[0] == 354
    msg = make_message("after the refusal")
    b.send(msg + b".\r\n")
    assert b.smtp_reply()[0] == 250
    assert fetch_last(f).endswith(msg)
    # The held one finishes within its share.
    expected = finish_one(a, MB // 2, "first")
    assert fetch_last(f).endswith(expected)
    a.close()
    b.close()


def test_bdat_is_spooled_too(make_facteur):
    f = make_facteur(extra_config=CONFIG)
    pid = f.proc.pid
    c = RawLine(f.ports["smtp"], timeout=60)
    assert c.smtp_reply()[0] == 220
    assert c.smtp_cmd("EHLO client.example")[0] == 250
    assert c.smtp_cmd("MAIL FROM:<big@example.org>")[0] == 250
    assert c.smtp_cmd("RCPT TO:<demo@example.test>")[0] == 250
    msg = body_of(4 * MB, "bdat")
    c.send(b"BDAT %d LAST\r\n" % len(msg) + msg[: len(msg) - 10])
    assert wait_for(lambda: spool_files(pid) == 1, timeout=30)
    assert c.nothing_pending(0.5)
    c.send(msg[len(msg) - 10:])
    code, lines = c.smtp_reply()
    assert code == 250, lines
    assert fetch_last(f).endswith(msg)
    c.close()
