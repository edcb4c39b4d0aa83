# SPDX-License-Identifier: MIT
"""A long SEARCH does not block its worker (issue 9 item 3): with one
worker, one session pipelines heavy SEARCHes (499 NOT BODY keys of two
characters, which the trigram index cannot answer, so every message's
text is read) while another session's NOOP must be answered between their
slices. The check is structural: when the NOOP's OK has arrived, the heavy
session's last tagged reply must not have been sent yet. Without slicing
the worker runs every pipelined SEARCH before it reads the NOOP.

Also: SEARCH BODY/TEXT through the full-text index over APPENDed mail
(base64, quoted-printable, Latin-1) with imaplib, and expunged mail is no
longer found."""
import base64
import imaplib
import select
import socket
import time

from conftest import HOST

N_MESSAGES = 100
HEAVY = 3


def login(f, select_box="INBOX"):
    m = imaplib.IMAP4(HOST, f.ports["imap"], timeout=60)
    assert m.login(f.user, f.password)[0] == "OK"
    if select_box:
        assert m.select(select_box)[0] == "OK"
    return m


def fill(f, n, size=12000):
    m = login(f, None)
    body = ("lorem ipsum dolor sit amet " * (size // 27 + 1))[:size]
    for i in range(n):
        msg = ("From: a%d@example.org\r\nTo: demo@example.test\r\nSubject: m%d\r\n"
               "Message-ID: <f%d@example.org>\r\n\r\n%s\r\n" % (i, i, i, body))
        assert m.append("INBOX", None, None, msg.encode())[0] == "OK"
    m.logout()


class Raw:
    def __init__(self, f):
        self.s = socket.create_connection((HOST, f.ports["imap"]), timeout=60)
        self.buf = b""
        self.read_until(b"\r\n")
        self.cmd(b"l LOGIN %s %s" % (f.user.encode(), f.password.encode()), b"l")
        self.cmd(b"s SELECT INBOX", b"s")

    def read_until(self, marker):
        while marker not in self.buf:
            data = self.s.recv(65536)
            assert data, "connection closed"
            self.buf += data
        i = self.buf.index(marker) + len(marker)
        out, self.buf = self.buf[:i], self.buf[i:]
        return out

    def read_tagged(self, tag):
        """Lines up to and including the one tagged tag."""
        out = b""
        while True:
            line = self.read_until(b"\r\n")
            out += line
            if line.startswith(tag + b" "):
                return out

    def cmd(self, line, tag):
        self.s.sendall(line + b"\r\n")
        r = self.read_tagged(tag)
        assert b"\r\n" + tag + b" OK" in b"\r\n" + r, r
        return r

    def drain_now(self):
        """Whatever the server has sent so far, without waiting."""
        while select.select([self.s], [], [], 0)[0]:
            data = self.s.recv(65536)
            if not data:
                break
            self.buf += data
        return self.buf


def test_heavy_search_yields_to_other_session(make_facteur):
    f = make_facteur(extra_config="workers = 1")
    fill(f, N_MESSAGES)
    heavy = Raw(f)
    other = Raw(f)
    program = b" ".join([b"NOT BODY zq"] * 499)
    expect = " ".join(str(i) for i in range(1, N_MESSAGES + 1)).encode()
    # The first heavy SEARCH alone, to know the mailbox answers as expected.
    r = heavy.cmd(b"h0 SEARCH " + program, b"h0")
    assert b"* SEARCH " + expect + b"\r\n" in r
    # Then a pipeline of them; once the first is answered the others are
    # being worked on when the NOOP comes.
    heavy.s.sendall(b"".join(b"h%d SEARCH %s\r\n" % (i, program) for i in range(1, HEAVY + 1)))
    heavy.read_tagged(b"h1")
    t0 = time.monotonic()
    r = other.cmd(b"n NOOP", b"n")
    noop_s = time.monotonic() - t0
    sent = heavy.drain_now()
    assert b"h%d OK" % HEAVY not in sent, (
        "the NOOP waited for the whole pipeline (%.2f s)" % noop_s)
    for i in range(2, HEAVY + 1):
        r = heavy.read_tagged(b"h%d" % i)
        assert b"* SEARCH " + expect + b"\r\n" in r and b"h%d OK" % i in r
    # Every pipelined SEARCH still gave the full, right answer.
    heavy.cmd(b"z NOOP", b"z")
    other.s.close()
    heavy.s.close()
    assert b"BAD" not in sent and b" NO " not in sent


B64 = base64.b64encode("Crème brûlée in the sécret garden".encode()).decode()
INDEXED = [
    ("From: Ann <ann@example.org>\r\nTo: demo@example.test\r\n"
     "Subject: =?UTF-8?Q?R=C3=A9sum=C3=A9?= of the trip\r\nMessage-ID: <i1@example.org>\r\n"
     "MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=zz\r\n\r\n"
     "--zz\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: base64\r\n\r\n"
     + B64 + "\r\n--zz\r\nContent-Type: application/octet-stream\r\nX-Part: marker77\r\n"
     "Content-Transfer-Encoding: base64\r\n\r\n"
     + base64.b64encode(b"binaryword").decode() + "\r\n--zz--\r\n"),
    ("From: Bob <bob@example.org>\r\nTo: demo@example.test\r\nSubject: Latin\r\n"
     "Message-ID: <i2@example.org>\r\nMIME-Version: 1.0\r\n"
     "Content-Type: text/plain; charset=iso-8859-1\r\n"
     "Content-Transfer-Encoding: quoted-printable\r\n\r\nGr=FC=DFe aus K=F6ln\r\n"),
]


def search(m, *criteria):
    typ, data = m.uid("SEARCH", "CHARSET", "UTF-8", *criteria)
    assert typ == "OK", data
    return [int(x) for x in data[0].split()]


def test_indexed_body_and_text(facteur):
    m = login(facteur, None)
    for text in INDEXED:
        assert m.append("INBOX", None, None, text.encode())[0] == "OK"
    assert m.select("INBOX")[0] == "OK"
    m.literal = "SÉCRET".encode()
    assert search(m, "BODY") == [1]               # base64 + UTF-8, case-folded
    m.literal = "grüße".encode()
    assert search(m, "BODY") == [2]               # QP + Latin-1
    assert search(m, "BODY", "binaryword") == []  # not a text part
    assert search(m, "BODY", "marker77") == []    # a part's header is not BODY
    assert search(m, "TEXT", "marker77") == [1]   # but it is TEXT
    m.literal = "résumé OF".encode()
    assert search(m, "TEXT") == [1]               # decoded RFC 2047 header
    assert search(m, "BODY", "ln") == [2]         # two characters: no trigram
    assert search(m, "NOT", "TEXT", "the") == [2]
    # COPY shares the content (and the index document).
    assert m.uid("COPY", "1", "INBOX")[0] == "OK"
    assert m.select("INBOX")[0] == "OK"
    assert search(m, "BODY", "garden") == [1, 3]
    # Expunged mail is not found any more.
    assert m.uid("STORE", "1,3", "+FLAGS", "(\\Deleted)")[0] == "OK"
    assert m.expunge()[0] == "OK"
    assert search(m, "BODY", "garden") == []
    assert search(m, "TEXT", "latin") == [2]
    m.logout()


def test_backfill_indexes_older_messages(facteur):
    """Messages stored before the index existed (their documents removed,
    their blobs listed as pending, as the schema step leaves them) are
    found at once, and the backfill thread indexes them in the background."""
    import os
    import sqlite3
    m = login(facteur, None)
    for text in INDEXED:
        assert m.append("INBOX", None, None, text.encode())[0] == "OK"
    m.logout()
    facteur.stop()
    db = sqlite3.connect(os.path.join(facteur.dir, "data", "facteur.db"))
    with db:
        db.execute("INSERT INTO search_pending(blob_id) SELECT blob_id FROM search_docs")
        db.execute("DELETE FROM search_fts")
        db.execute("DELETE FROM search_docs")
        # Step 8's word index, rebuilt from an empty search_fts.
        db.execute("INSERT INTO search_words(search_words) VALUES ('delete-all')")
        db.execute("DELETE FROM search_terms")
        db.execute("DELETE FROM search_mail")
    facteur.start()
    m = login(facteur)
    assert search(m, "BODY", "garden") == [1]
    assert search(m, "TEXT", "latin") == [2]
    deadline = time.monotonic() + 20
    while True:
        left = db.execute("SELECT COUNT(*) FROM search_pending").fetchone()[0]
        if left == 0 or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert left == 0
    assert db.execute("SELECT COUNT(*) FROM search_docs").fetchone()[0] == 2
    assert "search.backfilled" in facteur.logs()
    assert search(m, "BODY", "garden") == [1]
    assert search(m, "TEXT", "latin") == [2]
    m.logout()
    db.close()
