# SPDX-License-Identifier: MIT
"""ManageSieve (RFC 5804) end to end with one server for the module:
Debian's sieve-connect (an outside client) uploads, lists, activates,
downloads and deletes scripts over STARTTLS with SASL PLAIN, is refused an
invalid script (line:column) and the deletion of the active one; raw
sockets check the protocol's error answers; and a script uploaded this way
runs at delivery (smtplib to the MX, imaplib finds the fileinto)."""
import base64
import imaplib
import os
import re
import socket
import subprocess
import time

import pytest

from conftest import HOST, Facteur, assert_clean_logs, make_message, send_mx

SCRIPT = """require ["fileinto", "imap4flags"];
if header :contains "subject" "managed" {
    fileinto :flags "\\\\Flagged" "Archive";
    stop;
}
"""


@pytest.fixture(scope="module")
def f(tmp_path_factory):
    fac = Facteur(tmp_path_factory.mktemp("managesieve") / "facteur").start()
    yield fac
    assert fac.stop() == 0, fac.logs()[-5000:]
    assert_clean_logs(fac)


def sieve_connect(f, *args, debug=False):
    """Run sieve-connect against f as the demo user; the password goes
    through a pipe (--passwordfd), never the command line."""
    r, w = os.pipe()
    os.write(w, (f.password + "\n").encode())
    os.close(w)
    try:
        cmd = ["sieve-connect", "--server", HOST, "--port", str(f.ports["managesieve"]),
               "--user", f.user, "--passwordfd", str(r), "--notlsverify"]
        if debug:
            cmd.append("--debug")
        return subprocess.run(cmd + list(args), pass_fds=(r,), capture_output=True,
                              text=True, timeout=30)
    finally:
        os.close(r)


def test_sieve_connect(f, tmp_path):
    good = tmp_path / "main.sieve"
    good.write_text(SCRIPT)
    r = sieve_connect(f, "--upload", "--localsieve", str(good), "--remotesieve", "main",
                      debug=True)
    assert r.returncode == 0, r.stderr
    # It went over TLS: STARTTLS first, capabilities again, then AUTHENTICATE.
    assert ">>> STARTTLS" in r.stderr and "TLS activated" in r.stderr, r.stderr
    assert r.stderr.index("TLS activated") < r.stderr.index(">>> AUTHENTICATE"), r.stderr
    bad = tmp_path / "bad.sieve"
    bad.write_text('require "fileinto";\nif true {\n  fileinto "x"\n}\n')
    r = sieve_connect(f, "--upload", "--localsieve", str(bad), "--remotesieve", "bad")
    assert r.returncode != 0 and re.search(r"\b4:1\b", r.stdout + r.stderr), r
    spare = tmp_path / "spare.sieve"
    spare.write_text("keep;\n")
    assert sieve_connect(f, "--upload", "--localsieve", str(spare),
                         "--remotesieve", "spare").returncode == 0
    r = sieve_connect(f, "--list")
    assert r.returncode == 0 and r.stdout.split() == ['"main"', '"spare"'], r
    assert sieve_connect(f, "--activate", "--remotesieve", "main").returncode == 0
    r = sieve_connect(f, "--list")
    assert r.stdout.split() == ['"main"', "ACTIVE", '"spare"'], r
    out = tmp_path / "back.sieve"
    r = sieve_connect(f, "--download", "--remotesieve", "main", "--localsieve", str(out))
    assert r.returncode == 0 and out.read_text() == SCRIPT, r
    r = sieve_connect(f, "--delete", "--remotesieve", "main")
    assert r.returncode != 0 and "ACTIVE" in r.stdout + r.stderr, r
    assert sieve_connect(f, "--delete", "--remotesieve", "spare").returncode == 0
    assert "main ACTIVE" in f.cli("sieve", "list", f.user).stdout


class Raw:
    """A plain ManageSieve connection on loopback (cleartext login is
    allowed there by the default plaintext_auth = loopback)."""

    def __init__(self, f):
        self.sock = socket.create_connection((HOST, f.ports["managesieve"]), timeout=10)
        self.file = self.sock.makefile("rb")
        self.greeting = self.until_done()

    def until_done(self):
        lines = []
        while True:
            line = self.file.readline()
            assert line, "connection closed: %r" % lines
            lines.append(line.decode())
            m = re.search(rb"\{(\d+)\}\r\n$", line)
            if m:
                lines.append(self.file.read(int(m.group(1))).decode())
            elif re.match(rb"(OK|NO|BYE)\b", line):
                return "".join(lines)

    def cmd(self, data):
        self.sock.sendall(data if isinstance(data, bytes) else data.encode())
        return self.until_done()

    def close(self):
        self.file.close()
        self.sock.close()


def test_raw_errors(f):
    c = Raw(f)
    assert '"SIEVE" "fileinto' in c.greeting and '"STARTTLS"' in c.greeting
    assert c.cmd("LISTSCRIPTS\r\n").startswith("NO ")
    assert c.cmd("FROB\r\n") == 'NO "Unknown command"\r\n'
    assert c.cmd('AUTHENTICATE "PLAIN" "bm90YmFzZTY0"\r\n').startswith("NO ")
    # A literal over the pre-login cap: refused, its bytes skipped.
    reply = c.cmd(b'AUTHENTICATE "PLAIN" {20000+}\r\n' + b"A" * 20000 + b"\r\n")
    assert reply.startswith("NO (QUOTA/MAXSIZE)"), reply
    plain = base64.b64encode(b"\0" + f.user.encode() + b"\0" + f.password.encode()).decode()
    c.sock.sendall(b'AUTHENTICATE "PLAIN"\r\n')
    assert c.file.readline() == b'""\r\n'  # the empty challenge
    reply = c.cmd('"%s"\r\n' % plain)
    assert reply == 'OK "Logged in"\r\n', reply
    assert c.cmd('GETSCRIPT "nosuch"\r\n').startswith("NO (NONEXISTENT)")
    assert c.cmd('PUTSCRIPT "x" {9+}\r\nfileinto;\r\n').startswith('NO "1:1: ')
    assert c.cmd('PUTSCRIPT "x" {6}\r\nkeep;\n\r\n') == 'OK "Script stored"\r\n'
    assert c.cmd('PUTSCRIPT "y" "keep;"\r\n') == 'OK "Script stored"\r\n'
    assert c.cmd('RENAMESCRIPT "x" "y"\r\n').startswith("NO (ALREADYEXISTS)")
    assert c.cmd('PUTSCRIPT "bad/name" "keep;"\r\n') == 'NO "Invalid script name"\r\n'
    assert c.cmd('HAVESPACE "x" 100000000\r\n').startswith("NO (QUOTA/MAXSIZE)")
    assert c.cmd(b"NOOP \"a\0b\"\r\n") == "NO \"bad character in quoted string\"\r\n"
    assert c.cmd('DELETESCRIPT "x"\r\n') == 'OK "Script deleted"\r\n'
    assert c.cmd('DELETESCRIPT "y"\r\n') == 'OK "Script deleted"\r\n'
    assert c.cmd("LOGOUT\r\n") == 'OK "Logout completed"\r\n'
    assert c.file.read() == b""
    c.close()


def test_delivery(f):
    # test_sieve_connect left "main" active (a fileinto Archive with \Flagged).
    if "main ACTIVE" not in f.cli("sieve", "list", f.user).stdout:
        f.cli("sieve", "put", f.user, "main", "-", input=SCRIPT)
        f.cli("sieve", "activate", f.user, "main")
    assert send_mx(f, make_message("managed by sieve")) == {}
    assert send_mx(f, make_message("plain one")) == {}
    m = imaplib.IMAP4(HOST, f.ports["imap"], timeout=10)
    m.login(f.user, f.password)
    deadline = time.time() + 10
    while True:
        m.select("Archive", readonly=True)
        typ, data = m.search(None, 'SUBJECT "managed by sieve"')
        if data[0] or time.time() > deadline:
            break
        time.sleep(0.1)
    assert data[0], "not filed into Archive"
    typ, flags = m.fetch(data[0].split()[0], "(FLAGS)")
    assert b"\\Flagged" in flags[0]
    m.select("INBOX", readonly=True)
    assert not m.search(None, 'SUBJECT "managed by sieve"')[1][0]
    assert m.search(None, 'SUBJECT "plain one"')[1][0]
    m.logout()


def test_scram_gsasl(f):
    """SCRAM-SHA-256 with GNU SASL's client computing every message (its
    stdin/stdout mode; we carry them as ManageSieve strings)."""
    from test_scram import GsaslStdio
    c = Raw(f)
    assert '"SASL" "PLAIN SCRAM-SHA-256"' in c.greeting
    g = GsaslStdio("SCRAM-SHA-256", f.user, f.password)
    try:
        c.sock.sendall(b'AUTHENTICATE "SCRAM-SHA-256" "%s"\r\n' % g.token().encode())
        while True:
            line = c.file.readline().decode()
            m = re.fullmatch(r'"([A-Za-z0-9+/=]*)"\r\n', line)
            if not m:
                break
            g.answer(m.group(1))
            c.sock.sendall(b'"%s"\r\n' % g.token().encode())
    finally:
        g.close()
    assert line == 'OK "Logged in"\r\n', line
    assert c.cmd("LISTSCRIPTS\r\n").endswith('OK "Listscripts completed"\r\n')
    c.close()
