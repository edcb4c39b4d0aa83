# SPDX-License-Identifier: MIT
"""SASL SCRAM-SHA-256 and SCRAM-SHA-256-PLUS (RFC 5802, RFC 7677, channel
binding tls-exporter RFC 9266 / tls-unique RFC 5929) on IMAP, POP3 and SMTP
submission.

The client that must succeed is GNU SASL's `gsasl` (Debian package gsasl):
its --imap/--smtp modes connect, STARTTLS and bind to the TLS session
themselves (tls-exporter on TLS 1.3, tls-unique on TLS 1.2); for POP3,
which it does not speak, its stdin/stdout mode computes every message and
this file only carries them (and, on TLS 1.2, hands it Python's tls-unique).
The refusals (bad nonce, bad proof, wrong channel binding, -PLUS without
TLS, the "y" downgrade flag) need messages no correct client sends, so a
few lines of Python (hashlib/hmac) compute them; the limiters must count
those failures like wrong passwords."""
import base64
import glob
import hashlib
import hmac
import imaplib
import json
import os
import poplib
import re
import socket
import sqlite3
import ssl
import stringprep
import subprocess
import unicodedata
import urllib.request

from conftest import assert_clean_logs, smtp_client

B64 = re.compile(rb"^[A-Za-z0-9+/]*={0,2}$")


def gsasl_connect(f, proto, port, mech, *extra, password=None, user=None):
    """gsasl --imap/--smtp against our listener: (returncode, stdout)."""
    cmd = ["gsasl", "--" + proto, "--connect", "127.0.0.1:%d" % port, "-m", mech,
           "-a", user or f.user, "-p", password or f.password, "--x509-ca-file", f.cert,
           "--verbose", *extra]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL)
    return r.returncode, r.stdout + r.stderr


def first_message(out):
    """The client-first-message gsasl sent (the first base64 line after '+ ' / '334 ')."""
    lines = out.splitlines()
    for i, l in enumerate(lines):
        if l.rstrip() in ("+", "334") and i + 1 < len(lines):
            return base64.b64decode(lines[i + 1].strip())
    raise AssertionError("no SASL exchange in:\n" + out)


class GsaslStdio:
    """gsasl -c in its stdin/stdout mode: we carry its messages."""

    def __init__(self, mech, user, password, cb_unique=b""):
        self.p = subprocess.Popen(["gsasl", "-c", "-m", mech, "-a", user, "-p", password,
                                   "--quiet"], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE)
        # It asks for the tls-exporter binding (none), then tls-unique.
        self.p.stdin.write(b"\n" + base64.b64encode(cb_unique) + b"\n")
        self.p.stdin.flush()

    def token(self):
        """Its next message, base64 ("" once it has checked our "v=")."""
        while True:
            line = self.p.stdout.readline()
            if not line:
                raise AssertionError("gsasl gave up: %r" % self.p.stderr.read())
            line = line.rstrip(b"\r\n").rsplit(b": ", 1)[-1]
            if B64.match(line):
                return line.decode()

    def answer(self, challenge):
        self.p.stdin.write(challenge.encode() + b"\n")
        self.p.stdin.flush()

    def close(self):
        self.p.kill()
        self.p.wait()


def pop3_scram(p, mech, g):
    """AUTH mech on poplib connection p, messages from g. The final reply."""
    r = p._shortcmd("AUTH %s %s" % (mech, g.token()))
    while r.startswith(b"+ "):
        g.answer(r[2:].decode())
        r = p._shortcmd(g.token())
    return r


# --- a client that can lie, for the refusals ----------------------------------

def saslprep(text):
    """RFC 4013 with Python's own RFC 3454 tables (stringprep, Unicode 3.2):
    map B.1 to nothing and C.1.2 to a space, NFKC, refuse prohibited
    characters (the bidi rule is not needed for the strings used here)."""
    mapped = "".join(" " if stringprep.in_table_c12(c) else c
                     for c in text if not stringprep.in_table_b1(c))
    out = unicodedata.ucd_3_2_0.normalize("NFKC", mapped)
    checks = (stringprep.in_table_c12, stringprep.in_table_c21_c22, stringprep.in_table_c3,
              stringprep.in_table_c4, stringprep.in_table_c5, stringprep.in_table_c6,
              stringprep.in_table_c7, stringprep.in_table_c8, stringprep.in_table_c9)
    if any(check(c) for c in out for check in checks):
        raise ValueError("SASLprep prohibits %r" % text)
    return out


def scram_keys(password, salt, iters):
    salted = hashlib.pbkdf2_hmac("sha256", password.encode(), salt, iters)
    ck = hmac.new(salted, b"Client Key", "sha256").digest()
    return ck, hashlib.sha256(ck).digest()


class RawImap:
    def __init__(self, f, tls=False, tls12=False):
        self.sock = socket.create_connection(("127.0.0.1", f.ports["imap"]), 10)
        self.f = f
        self.buf = b""
        self.line()
        if tls:
            self.cmd("s STARTTLS")
            ctx = f.tls_context()
            if tls12:
                ctx.maximum_version = ssl.TLSVersion.TLSv1_2
            self.sock = ctx.wrap_socket(self.sock, server_hostname="mx.example.test")

    def line(self):
        while b"\r\n" not in self.buf:
            d = self.sock.recv(4096)
            if not d:
                raise ConnectionError("closed after %r" % self.buf)
            self.buf += d
        l, self.buf = self.buf.split(b"\r\n", 1)
        return l.decode()

    def send(self, s):
        self.sock.sendall(s.encode() + b"\r\n")

    def cmd(self, s):
        self.send(s)
        while True:
            l = self.line()
            if l.startswith(s.split()[0] + " "):
                return l

    def scram(self, mech, first, final_fn):
        """AUTHENTICATE; final_fn(server_first) gives the client-final (str),
        or None to stop. Returns the tagged reply."""
        self.send("a AUTHENTICATE %s %s" % (mech, base64.b64encode(first.encode()).decode()))
        l = self.line()
        if not l.startswith("+ "):
            return l
        final = final_fn(base64.b64decode(l[2:]).decode())
        self.send(base64.b64encode(final.encode()).decode() if final is not None else "*")
        l = self.line()
        if l.startswith("+ "):
            self.send("")
            l = self.line()
        return l

    def close(self):
        self.sock.close()


def client_final(gs2, cb, bare, password, nonce_tweak=False):
    def final(server_first):
        attrs = dict(a.split("=", 1) for a in server_first.split(","))
        nonce = attrs["r"] + ("x" if nonce_tweak else "")
        ck, sk = scram_keys(password, base64.b64decode(attrs["s"]), int(attrs["i"]))
        without = "c=%s,r=%s" % (base64.b64encode(gs2.encode() + cb).decode(), nonce)
        am = ",".join([bare, server_first, without]).encode()
        sig = hmac.new(sk, am, "sha256").digest()
        proof = bytes(a ^ b for a, b in zip(ck, sig))
        return without + ",p=" + base64.b64encode(proof).decode()
    return final


# --- the real client -------------------------------------------------------------

def test_imap_scram_gsasl(facteur):
    f = facteur
    # -PLUS only on TLS
    m = imaplib.IMAP4("127.0.0.1", f.ports["imap"])
    assert "AUTH=SCRAM-SHA-256" in m.capabilities
    assert "AUTH=SCRAM-SHA-256-PLUS" not in m.capabilities
    m.starttls(f.tls_context())
    caps = m.capability()[1][0].decode().split()
    assert "AUTH=SCRAM-SHA-256" in caps and "AUTH=SCRAM-SHA-256-PLUS" in caps
    m.logout()
    m = imaplib.IMAP4_SSL("127.0.0.1", f.ports["imaps"], ssl_context=f.tls_context())
    assert "AUTH=SCRAM-SHA-256-PLUS" in m.capability()[1][0].decode().split()
    m.logout()

    # plaintext SCRAM (loopback may authenticate without TLS)
    rc, out = gsasl_connect(f, "imap", f.ports["imap"], "SCRAM-SHA-256", "--no-starttls")
    assert rc == 0 and "Logged in" in out, out
    assert first_message(out).startswith(b"n,,n=" + f.user.encode())
    # -PLUS over TLS 1.3: tls-exporter
    rc, out = gsasl_connect(f, "imap", f.ports["imap"], "SCRAM-SHA-256-PLUS", "--starttls")
    assert rc == 0 and "Logged in" in out, out
    assert first_message(out).startswith(b"p=tls-exporter,,")
    # -PLUS over TLS 1.2: tls-unique
    rc, out = gsasl_connect(f, "imap", f.ports["imap"], "SCRAM-SHA-256-PLUS", "--starttls",
                            "--priority", "NORMAL:-VERS-TLS1.3")
    assert rc == 0 and "Logged in" in out, out
    assert first_message(out).startswith(b"p=tls-unique,,")
    # SCRAM without binding on TLS
    rc, out = gsasl_connect(f, "imap", f.ports["imap"], "SCRAM-SHA-256", "--starttls", "--no-cb")
    assert rc == 0 and "Logged in" in out, out
    # wrong password
    rc, out = gsasl_connect(f, "imap", f.ports["imap"], "SCRAM-SHA-256-PLUS", "--starttls",
                            password="not-" + f.password)
    assert rc != 0 and "NO [AUTHENTICATIONFAILED]" in out, out
    logs = f.logs()
    for mech in ("SCRAM-SHA-256", "SCRAM-SHA-256-PLUS"):
        assert 'user="%s" mech=%s result=ok' % (f.user, mech) in logs
    assert re.search(r'auth_failed ip=127\.0\.0\.1 user="%s" reason=bad_proof' % f.user, logs)
    assert f.password not in logs
    assert_clean_logs(f)


def test_smtp_submission_scram_gsasl(facteur):
    f = facteur
    rc, out = gsasl_connect(f, "smtp", f.ports["submission"], "SCRAM-SHA-256-PLUS", "--starttls")
    assert rc == 0 and "235 2.7.0" in out, out
    assert "AUTH PLAIN LOGIN SCRAM-SHA-256 SCRAM-SHA-256-PLUS" in out
    assert first_message(out).startswith(b"p=tls-exporter,,")
    rc, out = gsasl_connect(f, "smtp", f.ports["submission"], "SCRAM-SHA-256-PLUS", "--starttls",
                            "--priority", "NORMAL:-VERS-TLS1.3")
    assert rc == 0 and "235 2.7.0" in out, out
    assert first_message(out).startswith(b"p=tls-unique,,")
    rc, out = gsasl_connect(f, "smtp", f.ports["submission"], "SCRAM-SHA-256", "--no-starttls")
    assert rc == 0 and "235 2.7.0" in out, out
    assert "SCRAM-SHA-256-PLUS" not in out  # not offered without TLS
    rc, out = gsasl_connect(f, "smtp", f.ports["submission"], "SCRAM-SHA-256", "--no-starttls",
                            password="wrong-password")
    assert rc != 0 and "535 5.7.8" in out, out
    # -PLUS on plaintext: refused as an unknown mechanism, no exchange
    s = smtp_client(f, "submission")
    s.ehlo("client.test")
    assert "SCRAM-SHA-256-PLUS" not in s.esmtp_features.get("auth", "")
    code, _ = s.docmd("AUTH", "SCRAM-SHA-256-PLUS")
    assert code == 504
    s.quit()
    # after authenticating with SCRAM the session may submit
    s = smtp_client(f, "submission")
    s.starttls(context=f.tls_context())
    s.ehlo("client.test")
    g = GsaslStdio("SCRAM-SHA-256", f.user, f.password)
    try:
        code, msg = s.docmd("AUTH", "SCRAM-SHA-256 " + g.token())
        while code == 334:
            g.answer(msg.decode())
            code, msg = s.docmd(g.token())
    finally:
        g.close()
    assert code == 235, msg
    s.sendmail(f.user, [f.user], b"Subject: scram\r\n\r\nsent after SCRAM\r\n")
    s.quit()
    assert_clean_logs(f)


def test_pop3_scram_gsasl(facteur):
    f = facteur
    p = poplib.POP3("127.0.0.1", f.ports["pop3"])
    assert p.capa()["SASL"] == ["PLAIN", "SCRAM-SHA-256"]
    try:
        p._shortcmd("AUTH SCRAM-SHA-256-PLUS")
        raise AssertionError("-PLUS accepted without TLS")
    except poplib.error_proto as e:
        assert b"unsupported" in e.args[0]
    g = GsaslStdio("SCRAM-SHA-256", f.user, f.password)
    try:
        assert pop3_scram(p, "SCRAM-SHA-256", g).startswith(b"+OK maildrop")
    finally:
        g.close()
    assert p.stat() == (0, 0)
    p.quit()
    # pop3s on TLS 1.2: -PLUS with the tls-unique Python's ssl gives gsasl
    ctx = f.tls_context()
    ctx.maximum_version = ssl.TLSVersion.TLSv1_2
    p = poplib.POP3_SSL("127.0.0.1", f.ports["pop3s"], context=ctx)
    assert p.capa()["SASL"] == ["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-256-PLUS"]
    g = GsaslStdio("SCRAM-SHA-256-PLUS", f.user, f.password,
                   p.sock.get_channel_binding("tls-unique"))
    try:
        assert pop3_scram(p, "SCRAM-SHA-256-PLUS", g).startswith(b"+OK maildrop")
    finally:
        g.close()
    p.quit()
    # the binding of another session does not do
    p = poplib.POP3_SSL("127.0.0.1", f.ports["pop3s"], context=ctx)
    g = GsaslStdio("SCRAM-SHA-256-PLUS", f.user, f.password, b"\x01" * 12)
    try:
        try:
            pop3_scram(p, "SCRAM-SHA-256-PLUS", g)
            raise AssertionError("a foreign channel binding was accepted")
        except poplib.error_proto as e:
            assert e.args[0].startswith(b"-ERR [AUTH]")
    finally:
        g.close()
    p.quit()
    assert 'mech=SCRAM-SHA-256-PLUS result=ok' in f.logs()
    assert "reason=bad_binding" in f.logs()
    assert_clean_logs(f)


# --- refusals, and the limiters ----------------------------------------------------

def test_scram_refusals_count(make_facteur):
    f = make_facteur(extra_config="auth_max_failures = 6\nauth_window = 60")
    bare = "n=%s,r=c1i3nt" % f.user
    # -PLUS without TLS: not an exchange, not counted
    c = RawImap(f)
    assert c.scram("SCRAM-SHA-256-PLUS", "p=tls-exporter,," + bare,
                   lambda sf: None).startswith("a NO ")
    # the right password through our lying client works (it is a correct client)
    assert c.scram("SCRAM-SHA-256", "n,," + bare,
                   client_final("n,,", b"", bare, f.password)).startswith("a OK ")
    c.close()
    failures = []
    # bad nonce
    c = RawImap(f)
    failures.append(c.scram("SCRAM-SHA-256", "n,," + bare,
                            client_final("n,,", b"", bare, f.password, nonce_tweak=True)))
    # bad proof (wrong password)
    failures.append(c.scram("SCRAM-SHA-256", "n,," + bare,
                            client_final("n,,", b"", bare, "wrong")))
    # malformed client-first and invalid base64
    failures.append(c.scram("SCRAM-SHA-256", "x,," + bare, lambda sf: None))
    c.send("a AUTHENTICATE SCRAM-SHA-256 !!!!")
    failures.append(c.line())
    c.close()
    # wrong channel binding data, and "y" although -PLUS was offered (downgrade)
    c = RawImap(f, tls=True)
    failures.append(c.scram("SCRAM-SHA-256-PLUS", "p=tls-exporter,," + bare,
                            client_final("p=tls-exporter,,", os.urandom(32), bare,
                                         f.password)))
    failures.append(c.scram("SCRAM-SHA-256", "y,," + bare, lambda sf: None))
    for r in failures:
        assert r == "a NO [AUTHENTICATIONFAILED] Authentication failed", failures
    # six failures: blocked now, even with the right password, SCRAM or PLAIN
    assert c.scram("SCRAM-SHA-256", "n,," + bare, lambda sf: None).startswith(
        "a NO [UNAVAILABLE]")
    r = c.cmd("b LOGIN %s %s" % (f.user, f.password))
    assert r.startswith("b NO [UNAVAILABLE]"), r
    c.close()
    logs = f.logs()
    for why in ("bad_nonce", "bad_proof", "malformed", "bad_binding"):
        assert "reason=%s" % why in logs, why
    assert "auth_blocked ip=127.0.0.1 limit=address" in logs
    assert_clean_logs(f)


def test_scram_cancel_and_unknown_user(facteur):
    f = facteur
    c = RawImap(f)
    # "*" cancels (BAD), an unknown account gets a salt and then fails
    assert c.scram("SCRAM-SHA-256", "n,,n=%s,r=abc" % f.user, lambda sf: None).startswith(
        "a BAD ")
    salts = []
    for _ in range(2):
        def keep(sf):
            salts.append(dict(a.split("=", 1) for a in sf.split(","))["s"])
            return client_final("n,,", b"", "n=nobody@example.test,r=abc", "x")(sf)
        assert c.scram("SCRAM-SHA-256", "n,,n=nobody@example.test,r=abc", keep).startswith(
            "a NO [AUTHENTICATIONFAILED]")
    assert salts[0] == salts[1]  # as stable as a real account's
    c.close()
    assert "reason=unknown_user" in f.logs()


def test_scram_secrets_follow_the_password(facteur):
    f = facteur
    db = glob.glob(os.path.join(f.dir, "**", "facteur.db"), recursive=True)[0]
    with sqlite3.connect(db) as con:
        (scram,) = con.execute("SELECT scram FROM accounts WHERE address = ?",
                               (f.user,)).fetchone()
    # init stored secrets, not the password
    assert scram.startswith("SCRAM-SHA-256$10000:") and f.password not in scram
    # an account whose password predates SCRAM (no secrets): SCRAM fails, PLAIN works
    with sqlite3.connect(db) as con:
        con.execute("UPDATE accounts SET scram = '' WHERE address = ?", (f.user,))
    rc, out = gsasl_connect(f, "imap", f.ports["imap"], "SCRAM-SHA-256", "--no-starttls")
    assert rc != 0 and "AUTHENTICATIONFAILED" in out, out
    assert "reason=no_scram_secret" in f.logs()
    m = imaplib.IMAP4("127.0.0.1", f.ports["imap"])
    m.login(f.user, f.password)
    m.logout()
    # user passwd sets them again
    f.cli("user", "passwd", f.user, "--password-stdin", input="second-password\n")
    rc, out = gsasl_connect(f, "imap", f.ports["imap"], "SCRAM-SHA-256", "--no-starttls",
                            password="second-password")
    assert rc == 0, out
    rc, out = gsasl_connect(f, "imap", f.ports["imap"], "SCRAM-SHA-256", "--no-starttls")
    assert rc != 0, out
    # user add
    f.add_user("new@example.test", "new-user-password")
    rc, out = gsasl_connect(f, "smtp", f.ports["submission"], "SCRAM-SHA-256", "--no-starttls",
                            user="new@example.test", password="new-user-password")
    assert rc == 0, out
    # the webmail's password change
    base = "http://localhost:%d" % f.ports["http"]
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor())
    req = urllib.request.Request(base + "/api/login", method="POST", headers={
        "Content-Type": "application/json"}, data=json.dumps(
            {"username": f.user, "password": "second-password"}).encode())
    with opener.open(req, timeout=10) as r:
        csrf = json.loads(r.read())["csrfToken"]
    req = urllib.request.Request(base + "/api/password", method="POST", headers={
        "Content-Type": "application/json", "X-CSRF-Token": csrf}, data=json.dumps(
            {"old": "second-password", "new": "third-password"}).encode())
    with opener.open(req, timeout=30) as r:
        assert r.status == 204
    rc, out = gsasl_connect(f, "imap", f.ports["imap"], "SCRAM-SHA-256-PLUS", "--starttls",
                            password="third-password")
    assert rc == 0, out
    rc, out = gsasl_connect(f, "imap", f.ports["imap"], "SCRAM-SHA-256-PLUS", "--starttls",
                            password="second-password")
    assert rc != 0, out
    assert_clean_logs(f)


def test_scram_saslprep(facteur):
    """Non-ASCII passwords go through SASLprep (RFC 4013, RFC 5802 2.2): a
    no-break space, a soft hyphen, a decomposed accent and a ligature all
    spell the same password for SCRAM, as for the client's own SASLprep."""
    f = facteur
    stored = "Caf\u00e9\u00a0cr\u00e8me \ufb01n"  # composed, no-break space, "fi" ligature
    f.add_user("prep@example.test", stored)
    spellings = [stored, "Cafe\u0301 cre\u0300me fin", "Caf\u00e9 cr\u00e8\u00adme fin"]
    assert len({saslprep(p) for p in spellings}) == 1 and len(set(spellings)) == 3
    c = RawImap(f)
    for i, password in enumerate(spellings):
        bare = "n=prep@example.test,r=nonce%d" % i
        r = c.scram("SCRAM-SHA-256", "n,," + bare,
                    client_final("n,,", b"", bare, saslprep(password)))
        assert r.startswith("a OK"), (password, r)
        c.close()
        c = RawImap(f)
    # A client that does not prepare sends other bytes: no key matches them.
    bare = "n=prep@example.test,r=nonce9"
    r = c.scram("SCRAM-SHA-256", "n,," + bare,
                client_final("n,,", b"", bare, spellings[1]))
    assert r.startswith("a NO [AUTHENTICATIONFAILED]"), r
    # The user name is prepared too (a soft hyphen disappears) ...
    bare = "n=pr\u00adep@example.test,r=nonce10"
    r = c.scram("SCRAM-SHA-256", "n,," + bare, client_final("n,,", b"", bare, saslprep(stored)))
    assert r.startswith("a OK"), r
    c.close()
    # ... and one SASLprep prohibits (a control character) ends the exchange.
    c = RawImap(f)
    assert c.scram("SCRAM-SHA-256", "n,,n=pr\u0007ep@example.test,r=x",
                   lambda sf: None).startswith("a NO [AUTHENTICATIONFAILED]")
    c.close()
    # GNU SASL's client prepares the password itself.
    for password in spellings:
        rc, out = gsasl_connect(f, "imap", f.ports["imap"], "SCRAM-SHA-256", "--no-starttls",
                                user="prep@example.test", password=password)
        assert rc == 0 and "Logged in" in out, out
    # PLAIN still takes the password as typed when it was set.
    m = imaplib.IMAP4("127.0.0.1", f.ports["imap"])
    m._encoding = "utf-8"
    m.authenticate("PLAIN", lambda _: ("\0prep@example.test\0" + stored).encode())
    m.logout()
    assert "reason=malformed" in f.logs()
    assert_clean_logs(f)
