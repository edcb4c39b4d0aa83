# SPDX-License-Identifier: MIT
"""COMPRESS=DEFLATE (RFC 4978) over implicit TLS, driven by hand with
Python's zlib (imaplib has no COMPRESS): commands and replies go through
raw DEFLATE, a large APPEND of compressible data (a compression bomb in
miniature) is stored intact, a second COMPRESS is refused, and corrupt
compressed input closes the connection without hurting the server."""
import socket
import ssl
import time
import zlib

from conftest import HOST, make_message, send_mx


class Deflated:
    def __init__(self, f):
        raw = socket.create_connection((HOST, f.ports["imaps"]), timeout=20)
        self.sock = f.tls_context().wrap_socket(raw, server_hostname="localhost")
        self.pending = b""
        self.z = None
        self.greeting = self.line()

    def _recv(self):
        data = self.sock.recv(65536)
        if not data:
            raise EOFError("connection closed")
        if self.z is not None:
            data = self.unz.decompress(data)
        self.pending += data

    def line(self):
        while b"\r\n" not in self.pending:
            self._recv()
        line, self.pending = self.pending.split(b"\r\n", 1)
        return line

    def send(self, data):
        if self.z is not None:
            data = self.z.compress(data) + self.z.flush(zlib.Z_SYNC_FLUSH)
        self.sock.sendall(data)

    def command(self, tag, text):
        self.send(b"%s %s\r\n" % (tag, text))
        lines = []
        while True:
            line = self.line()
            lines.append(line)
            if line.startswith(tag + b" "):
                return lines

    def start(self):
        self.z = zlib.compressobj(6, zlib.DEFLATED, -15)
        self.unz = zlib.decompressobj(-15)
        assert self.pending == b""


def login_and_compress(f):
    c = Deflated(f)
    assert b"OK" in c.greeting
    r = c.command(b"a", b'LOGIN "%s" "%s"' % (f.user.encode(), f.password.encode()))
    assert r[-1].startswith(b"a OK"), r
    r = c.command(b"b", b"CAPABILITY")
    assert b"COMPRESS=DEFLATE" in r[0]
    r = c.command(b"c", b"COMPRESS DEFLATE")
    assert r[-1].startswith(b"c OK"), r
    c.start()
    return c


def test_compress_roundtrip(facteur):
    send_mx(facteur, make_message("compressed hello", "body through deflate\r\n"))
    c = login_and_compress(facteur)
    r = c.command(b"d", b"SELECT INBOX")
    assert r[-1].startswith(b"d OK") and any(b"1 EXISTS" in l for l in r), r
    r = c.command(b"e", b"FETCH 1 (BODY.PEEK[HEADER.FIELDS (SUBJECT)])")
    assert any(b"compressed hello" in l for l in r), r
    r = c.command(b"f", b"COMPRESS DEFLATE")
    assert r[-1].startswith(b"f NO [COMPRESSIONACTIVE]"), r
    r = c.command(b"g", b"LOGOUT")
    assert r[-1].startswith(b"g OK")


def test_compress_large_append(facteur):
    c = login_and_compress(facteur)
    body = b"Subject: zeros\r\n\r\n" + (b"0" * 998 + b"\r\n") * 4096  # 4 MiB
    c.send(b"h APPEND INBOX {%d+}\r\n" % len(body) + body + b"\r\n")
    while True:
        line = c.line()
        if line.startswith(b"h "):
            break
    assert line.startswith(b"h OK"), line
    r = c.command(b"i", b"SELECT INBOX")
    assert r[-1].startswith(b"i OK")
    r = c.command(b"j", b"FETCH 1 RFC822.SIZE")
    assert any(b"RFC822.SIZE %d" % len(body) in l for l in r), r


def test_corrupt_deflate_closes(facteur):
    c = login_and_compress(facteur)
    c.sock.sendall(b"\xff\xfe not deflate data at all \x00" * 4)
    closed = False
    try:
        for _ in range(50):
            c._recv()
    except (EOFError, ConnectionError, ssl.SSLError, zlib.error):
        closed = True
    assert closed
    # The server still serves others.
    c2 = login_and_compress(facteur)
    assert c2.command(b"k", b"NOOP")[-1].startswith(b"k OK")


def test_inflated_backlog_is_processed_without_new_input(facteur):
    """One compressed burst that inflates to far more than the input cap
    (100 MB of 'A', then a NOOP) is worked through to the end although the
    socket has nothing more to say: the NOOP is answered."""
    c = login_and_compress(facteur)
    z = c.z
    burst = b""
    chunk = b"A" * (1 << 20)
    for _ in range(100):
        burst += z.compress(chunk)
    burst += z.compress(b"\r\nn NOOP\r\n") + z.flush(zlib.Z_SYNC_FLUSH)
    assert len(burst) < 200000
    c.sock.sendall(burst)
    c.sock.settimeout(60)
    lines = []
    while not lines or not lines[-1].startswith(b"n "):
        lines.append(c.line())
    assert lines[-1].startswith(b"n OK"), lines
    r = c.command(b"o", b"NOOP")
    assert r[-1].startswith(b"o OK"), r


def test_many_pipelined_commands_in_one_burst(facteur):
    """50,000 NOOPs in one compressed burst: every one is answered."""
    c = login_and_compress(facteur)
    n = 50000
    c.send(b"".join(b"%d NOOP\r\n" % i for i in range(n)))
    c.sock.settimeout(60)
    last = b"\r\n%d OK" % (n - 1)
    while last not in c.pending:  # the whole reply stream, read in bulk
        c._recv()
    assert c.pending.count(b" OK NOOP completed\r\n") == n
