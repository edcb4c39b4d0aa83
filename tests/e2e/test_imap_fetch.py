# SPDX-License-Identifier: MIT
"""FETCH over IMAP against Python's imaplib and curl: mail delivered over
SMTP is fetched with every data item and its bytes compared with what was
sent (after the headers the server prepends); body sections of a multipart
message; BINARY decoding of a 5 MiB attachment and the message itself
fetched intact; \\Seen set by BODY[] and not by BODY.PEEK[]; a FETCH 1:*
streamed over many messages; curl's imaps:// URL fetch; and bad requests
answered BAD."""
import email.policy
import imaplib
import os
import re
import subprocess
from email.message import EmailMessage

import pytest

from conftest import HOST, make_message, send_mx, wait_for


def imap_login(f, ssl=False):
    if ssl:
        m = imaplib.IMAP4_SSL(HOST, f.ports["imaps"], ssl_context=f.tls_context(), timeout=60)
    else:
        m = imaplib.IMAP4(HOST, f.ports["imap"], timeout=60)
    m.login(f.user, f.password)
    return m


def wait_messages(f, n):
    """Wait until INBOX holds n messages (delivery is synchronous, but be safe)."""
    def count():
        m = imap_login(f)
        try:
            typ, data = m.select("INBOX", readonly=True)
            return int(data[0]) >= n
        finally:
            m.logout()
    assert wait_for(count, timeout=20)


def fetch_parts(m, seq, items):
    """{item name: bytes or str} of one FETCH response (literals resolved)."""
    typ, data = m.fetch(seq, items)
    assert typ == "OK", data
    return parse_fetch(data)


def parse_fetch(data):
    """Flatten imaplib's FETCH data (tuples for literals) into one dict."""
    out = {}
    for entry in data:
        if entry is None or entry == b")":
            continue
        if isinstance(entry, tuple):
            head, lit = entry
            name = re.search(rb"([A-Z0-9.]+(?:\[[^\]]*\])?(?:<\d+>)?) ~?\{\d+\}$", head).group(1)
            out[name.decode()] = lit
            # simple items before the literal on the same line
            pre = head[: head.rfind(name)]
            out.update(parse_simple(pre))
        else:
            out.update(parse_simple(entry))
    return out


def parse_simple(line):
    out = {}
    for k, v in re.findall(rb"(FLAGS|UID|RFC822\.SIZE|MODSEQ|BINARY\.SIZE\[[^\]]*\]) "
                           rb"(\([^)]*\)|\d+)", line):
        out[k.decode()] = v.decode()
    return out


def test_fetch_items_and_bytes(facteur):
    f = facteur
    sent = make_message("fetch one", body="Hello, world.\r\nSecond line.\r\n")
    send_mx(f, sent)
    wait_messages(f, 1)
    m = imap_login(f)
    m.select("INBOX")
    typ, data = m.fetch("1", "(FLAGS INTERNALDATE RFC822.SIZE ENVELOPE BODYSTRUCTURE BODY UID "
                             "MODSEQ EMAILID THREADID SAVEDATE BODY.PEEK[])")
    assert typ == "OK"
    head, body = data[0]
    assert b"FLAGS (\\Recent)" in head  # this session is the first to see it
    assert b"INTERNALDATE \"" in head
    assert b"ENVELOPE (\"Mon, 01 Jan 2024 00:00:00 +0000\" \"fetch one\"" in head
    assert b"BODYSTRUCTURE (\"text\" \"plain\"" in head
    assert b"UID 1" in head and b"MODSEQ (" in head
    assert b"EMAILID (M" in head and b"THREADID (T" in head and b"SAVEDATE \"" in head
    size = int(re.search(rb"RFC822\.SIZE (\d+)", head).group(1))
    # What was sent, after the trace headers the server adds in front.
    assert body.endswith(sent)
    assert len(body) == size
    prefix = body[: len(body) - len(sent)]
    assert re.search(rb"^(Return-Path|Received|Delivered-To):", prefix, re.M)

    # RFC822.* and the macros
    p = fetch_parts(m, "1", "(RFC822.HEADER RFC822.TEXT)")
    assert p["RFC822.TEXT"] == b"Hello, world.\r\nSecond line.\r\n"
    assert p["RFC822.HEADER"].endswith(b"\r\n\r\n") and b"Subject: fetch one" in p["RFC822.HEADER"]
    typ, data = m.fetch("1", "ALL")
    assert typ == "OK" and b"ENVELOPE" in data[0]
    typ, data = m.fetch("1", "FAST")
    assert typ == "OK" and b"RFC822.SIZE" in data[0]
    typ, data = m.fetch("1", "FULL")
    assert typ == "OK" and b" BODY (" in data[0]
    p = fetch_parts(m, "1", "(BODY.PEEK[HEADER.FIELDS (SUBJECT)] BODY.PEEK[]<0.4>)")
    assert p["BODY[HEADER.FIELDS (SUBJECT)]"] == b"Subject: fetch one\r\n\r\n"
    assert p["BODY[]<0>"] == body[:4]
    m.logout()


def test_fetch_seen(facteur):
    f = facteur
    send_mx(f, make_message("seen test"))
    wait_messages(f, 1)
    m = imap_login(f)
    m.select("INBOX")
    typ, data = m.fetch("1", "(BODY.PEEK[TEXT])")
    assert b"FLAGS" not in data[0][0]
    typ, data = m.fetch("1", "(FLAGS)")
    assert b"\\Seen" not in data[0]
    typ, data = m.fetch("1", "(BODY[TEXT])")
    assert typ == "OK"
    flat = b"".join(x if isinstance(x, bytes) else x[0] + x[1] for x in data)
    assert b"FLAGS (\\Seen \\Recent)" in flat
    typ, data = m.uid("FETCH", "1", "(FLAGS)")
    assert b"\\Seen" in data[0] and b"UID 1" in data[0]
    m.logout()


def build_attachment_message(payload):
    msg = EmailMessage()
    msg["From"] = "sender@example.org"
    msg["To"] = "demo@example.test"
    msg["Subject"] = "big attachment"
    msg["Date"] = "Mon, 01 Jan 2024 00:00:00 +0000"
    msg["Message-ID"] = "<big@client.example>"
    msg.set_content("See the attachment.\n")
    msg.add_attachment(payload, maintype="application", subtype="octet-stream",
                       filename="blob.bin")
    return msg.as_bytes(policy=email.policy.SMTP)


def test_fetch_big_attachment(facteur):
    f = facteur
    payload = os.urandom(5 * 1024 * 1024)
    sent = build_attachment_message(payload)
    send_mx(f, sent)
    wait_messages(f, 1)
    m = imap_login(f, ssl=True)
    m.select("INBOX")
    p = fetch_parts(m, "1", "(BODY.PEEK[] BINARY.SIZE[2] BODY.PEEK[1] BODYSTRUCTURE)")
    assert p["BODY[]"].endswith(sent)
    assert int(p["BINARY.SIZE[2]"]) == len(payload)
    assert p["BODY[1]"].replace(b"\r\n", b"\n") == b"See the attachment.\n"
    typ, data = m.fetch("1", "(BINARY.PEEK[2])")
    assert typ == "OK"
    assert data[0][0].endswith(b"BINARY[2] ~{%d}" % len(payload))
    assert data[0][1] == payload
    # a window of the decoded data
    typ, data = m.fetch("1", "(BINARY.PEEK[2]<1000.500>)")
    assert data[0][1] == payload[1000:1500]
    typ, data = m.fetch("1", "(BINARY.PEEK[2]<0.16> BINARY.PEEK[2]<100.4>)")
    assert typ == "OK"
    m.logout()


def test_fetch_many_streamed(facteur):
    f = facteur
    bodies = []
    for i in range(40):
        body = "".join("message %03d line %04d %s\r\n" % (i, j, "x" * 60) for j in range(300))
        bodies.append(body.encode())
        send_mx(f, make_message("many %d" % i, body=body))
    wait_messages(f, 40)
    m = imap_login(f)
    m.select("INBOX")
    typ, data = m.fetch("1:*", "(UID BODY.PEEK[TEXT])")
    assert typ == "OK"
    lits = [x for x in data if isinstance(x, tuple)]
    assert len(lits) == 40
    for i, (head, lit) in enumerate(lits):
        assert head.startswith(b"%d (UID %d BODY[TEXT] {" % (i + 1, i + 1))
        assert lit == bodies[i]
    # UID FETCH of UIDs that do not exist is silently empty
    typ, data = m.uid("FETCH", "1000:2000", "(FLAGS)")
    assert typ == "OK" and data == [None]
    m.logout()


def test_fetch_multipart_sections(facteur):
    f = facteur
    raw = (b"From: <sender@example.org>\r\nTo: <demo@example.test>\r\nSubject: parts\r\n"
           b"MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"B\"\r\n\r\n"
           b"--B\r\nContent-Type: text/plain\r\n\r\nfirst part\r\n"
           b"--B\r\nContent-Type: text/plain; charset=utf-8\r\n"
           b"Content-Transfer-Encoding: quoted-printable\r\n\r\ncaf=C3=A9\r\n"
           b"--B\r\nContent-Type: message/rfc822\r\n\r\n"
           b"Subject: inner\r\n\r\ninner body\r\n"
           b"--B--\r\n")
    send_mx(f, raw)
    wait_messages(f, 1)
    m = imap_login(f)
    m.select("INBOX")
    p = fetch_parts(m, "1", "(BODY.PEEK[1] BODY.PEEK[2] BINARY.PEEK[2] BODY.PEEK[2.MIME] "
                            "BODY.PEEK[3.HEADER] BODY.PEEK[3.TEXT] BODY.PEEK[3.1])")
    assert p["BODY[1]"] == b"first part"
    assert p["BODY[2]"] == b"caf=C3=A9"
    assert p["BINARY[2]"] == "café".encode()
    assert p["BODY[2.MIME]"] == (b"Content-Type: text/plain; charset=utf-8\r\n"
                                 b"Content-Transfer-Encoding: quoted-printable\r\n\r\n")
    assert p["BODY[3.HEADER]"] == b"Subject: inner\r\n\r\n"
    assert p["BODY[3.TEXT]"] == b"inner body"
    assert p["BODY[3.1]"] == b"inner body"
    typ, data = m.fetch("1", "(BODY.PEEK[7])")
    assert typ == "OK" and b"BODY[7] NIL" in data[0]
    m.logout()


@pytest.mark.parametrize("bad", [
    "(BODY[0])", "(BODY[1.HEADER.FIELDS])", "(BODY[HEADER.FIELDS ()])", "(BODY[]<10.0>)",
    "(BODY[MIME])", "(BINARY[TEXT])", "(NOSUCHITEM)", "()",
])
def test_fetch_bad(facteur, bad):
    f = facteur
    send_mx(f, make_message("bad"))
    wait_messages(f, 1)
    m = imap_login(f)
    m.select("INBOX")
    with pytest.raises(imaplib.IMAP4.error) as e:
        m.fetch("1", bad)
    assert "BAD" in str(e.value)
    # sequence numbers beyond the mailbox are BAD too
    with pytest.raises(imaplib.IMAP4.error):
        m.fetch("5", "(FLAGS)")
    m.logout()


def test_curl_fetch(facteur):
    f = facteur
    sent = make_message("curl fetch", body="Fetched by curl.\r\n")
    send_mx(f, sent)
    wait_messages(f, 1)
    url = "imaps://127.0.0.1:%d/INBOX;UID=1" % f.ports["imaps"]
    r = subprocess.run(["curl", "-s", "-k", "--max-time", "30", "-u",
                        "%s:%s" % (f.user, f.password), url],
                       capture_output=True, timeout=60)
    assert r.returncode == 0, r.stderr
    assert r.stdout.endswith(sent)
    assert b"Fetched by curl." in r.stdout
