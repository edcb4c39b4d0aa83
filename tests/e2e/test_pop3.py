# SPDX-License-Identifier: MIT
"""POP3 (listen.pop3 with STLS, listen.pop3s with implicit TLS) against
poplib, curl and fetchmail: the commands of RFC 1939, deletion only at
QUIT, stable UIDLs, the [IN-USE] lock, STLS command injection and a large
message retrieved intact."""
import base64
import hashlib
import os
import poplib
import random
import socket
import subprocess

import pytest

from conftest import (HOST, RawLine, make_message, pop3_client, pop3_fetch_all, pop3_retr_all,
                      send_mx, wait_for)


def deliver(f, n, prefix="msg"):
    msgs = []
    for i in range(n):
        m = make_message("%s %d" % (prefix, i), body="Body of message %d.\r\nSecond line.\r\n" % i)
        assert send_mx(f, m) == {}
        msgs.append(m)
    return msgs


def login_retrying(f, timeout=5):
    """Log in, retrying while a just-dropped session still holds the lock."""
    def attempt():
        try:
            return pop3_client(f)
        except poplib.error_proto as e:
            if b"IN-USE" in str(e).encode() or "IN-USE" in str(e):
                return None
            raise
    p = wait_for(attempt, timeout)
    assert p is not None, "mailbox still locked %ds after the connection dropped" % timeout
    return p


def drop(p):
    """Vanish without QUIT, as a client that crashed."""
    p.sock.shutdown(socket.SHUT_RDWR)
    p.sock.close()
    p.file.close()


def test_capa(facteur):
    p = poplib.POP3(HOST, facteur.ports["pop3"], timeout=10)
    caps = p.capa()
    for c in ("STLS", "USER", "UIDL", "TOP"):
        assert c in caps, caps
    p.stls(context=facteur.tls_context())
    caps = p.capa()
    assert "STLS" not in caps, caps
    assert "USER" in caps
    p.quit()


@pytest.mark.parametrize("mode", ["stls", "tls"])
def test_commands(facteur, mode):
    sent = deliver(facteur, 3)
    p = pop3_client(facteur, mode)
    count, total = p.stat()
    assert count == 3
    got = pop3_retr_all(p)
    for g, m in zip(got, sent):
        assert g.endswith(m)
    assert total == sum(len(g) for g in got)
    _, listing, _ = p.list()
    sizes = {int(n): int(sz) for n, sz in (l.split() for l in listing)}
    assert sizes == {i + 1: len(g) for i, g in enumerate(got)}
    assert int(p.list(2).split()[2]) == len(got[1])
    _, uidls, _ = p.uidl()
    uids = [l.split()[1] for l in uidls]
    assert len(set(uids)) == 3
    assert p.uidl(3).split()[2] == uids[2]
    # TOP n 0: the header and the blank line, no body; TOP n 1: one body line.
    _, top0, _ = p.top(1, 0)
    head = got[0].split(b"\r\n\r\n", 1)[0].split(b"\r\n")
    assert top0 == head + [b""]
    _, top1, _ = p.top(1, 1)
    assert top1 == head + [b"", b"Body of message 0."]
    # DELE hides the message, RSET brings it back; only QUIT deletes.
    p.dele(1)
    assert p.stat()[0] == 2
    with pytest.raises(poplib.error_proto):
        p.retr(1)
    with pytest.raises(poplib.error_proto):
        p.dele(1)
    _, listing, _ = p.list()
    assert [int(l.split()[0]) for l in listing] == [2, 3]
    p.rset()
    assert p.stat() == (3, total)
    p.dele(1)
    with pytest.raises(poplib.error_proto):
        p.retr(4)
    p.quit()
    p = pop3_client(facteur, mode)
    assert p.stat()[0] == 2
    _, uidls, _ = p.uidl()
    assert [l.split()[1] for l in uidls] == uids[1:]
    assert pop3_retr_all(p) == got[1:]
    p.quit()


def test_wrong_password(facteur):
    with pytest.raises(poplib.error_proto) as e:
        pop3_client(facteur, password="wrong-password")
    assert str(e.value).startswith("b'-ERR")
    with pytest.raises(poplib.error_proto):
        pop3_client(facteur, user="nobody@example.test", password="whatever")


def test_no_plaintext_login_when_never(make_facteur):
    f = make_facteur(extra_config="plaintext_auth = never")
    p = poplib.POP3(HOST, f.ports["pop3"], timeout=10)
    with pytest.raises(poplib.error_proto):
        p.user(f.user)
        p.pass_(f.password)
    p.close()
    pop3_client(f, "stls").quit()


def test_dropped_connection_deletes_nothing(facteur):
    deliver(facteur, 2)
    p = pop3_client(facteur)
    p.dele(1)
    p.dele(2)
    drop(p)
    p = login_retrying(facteur)
    assert p.stat()[0] == 2
    p.quit()


def test_uidl_stable_across_sessions(facteur):
    deliver(facteur, 3)
    p = pop3_client(facteur, "stls")
    first = p.uidl()[1]
    p.quit()
    deliver(facteur, 1, "later")
    p = pop3_client(facteur, "tls")
    second = p.uidl()[1]
    p.quit()
    assert second[:3] == first
    assert len(set(l.split()[1] for l in second)) == 4


def test_second_session_is_in_use(facteur):
    deliver(facteur, 1)
    a = pop3_client(facteur)
    with pytest.raises(poplib.error_proto) as e:
        pop3_client(facteur, "tls")
    assert "[IN-USE]" in str(e.value), e.value
    assert a.stat()[0] == 1  # the first session is unharmed
    a.quit()
    b = pop3_client(facteur, "tls")
    assert b.stat()[0] == 1
    b.quit()


def test_stls_injection(facteur):
    c = RawLine(facteur.ports["pop3"], timeout=5)
    assert c.readline().startswith(b"+OK")
    c.send("STLS\r\nCAPA\r\n")
    assert c.readline().startswith(b"+OK")
    c.starttls(facteur.tls_context())
    assert c.nothing_pending(1.5), "server answered a command injected before TLS"
    c.send("NOOP\r\n")  # not valid before login: one -ERR line, nothing more
    assert c.readline().startswith(b"-ERR")
    assert c.nothing_pending(1.0)
    c.send("QUIT\r\n")
    assert c.readline().startswith(b"+OK")
    c.close()


def test_curl_pop3s(facteur):
    sent = deliver(facteur, 2)
    url = "pop3s://%s:%d/" % (HOST, facteur.ports["pop3s"])
    auth = ["--user", "%s:%s" % (facteur.user, facteur.password), "-k", "-sS"]
    r = subprocess.run(["curl", url, *auth], capture_output=True, timeout=60)
    assert r.returncode == 0, r.stderr
    lines = r.stdout.decode().split("\r\n")
    assert [l.split()[0] for l in lines if l] == ["1", "2"]
    r = subprocess.run(["curl", url + "2", *auth], capture_output=True, timeout=60)
    assert r.returncode == 0, r.stderr
    assert r.stdout.endswith(sent[1]), r.stdout
    # Also over STLS with --ssl-reqd.
    r = subprocess.run(["curl", "pop3://%s:%d/1" % (HOST, facteur.ports["pop3"]), "--ssl-reqd",
                        *auth], capture_output=True, timeout=60)
    assert r.returncode == 0, r.stderr
    assert r.stdout.endswith(sent[0])


@pytest.mark.parametrize("mode", ["ssl", "stls", "localhost"])
def test_fetchmail(facteur, tmp_path, mode):
    sent = deliver(facteur, 3, "fetch")
    home = tmp_path / "home"
    out = tmp_path / "out"
    home.mkdir()
    out.mkdir()
    host = HOST
    if mode == "ssl":
        port = facteur.ports["pop3s"]
        tls = 'ssl sslcertck sslcertfile "%s" sslcommonname "mx.example.test"' % facteur.cert
    elif mode == "localhost":
        # The name init prints: the certificate must match it as it is.
        host, port = "localhost", facteur.ports["pop3s"]
        tls = 'ssl sslcertck sslcertfile "%s"' % facteur.cert
    else:
        port = facteur.ports["pop3"]
        tls = "sslproto tls1.2+ no sslcertck"
    rc = home / ".fetchmailrc"
    rc.write_text('set no syslog\n'
                  'poll %s with proto POP3 port %d:\n'
                  '  user "%s" there with password "%s"\n'
                  '  options %s\n'
                  '  mda "cat > %s/msg.$$"\n'
                  % (host, port, facteur.user, facteur.password, tls, out))
    os.chmod(rc, 0o600)
    r = subprocess.run(["fetchmail", "-f", str(rc), "-v", "--nodetach"],
                       env={**os.environ, "HOME": str(home)}, capture_output=True, text=True,
                       timeout=120)
    assert r.returncode == 0, r.stdout + r.stderr
    got = [p.read_bytes() for p in out.iterdir()]
    assert len(got) == 3, r.stdout + r.stderr
    for m in sent:
        subject = [l for l in m.split(b"\r\n") if l.startswith(b"Subject:")][0]
        assert sum(subject in g for g in got) == 1
    # fetchmail deletes what it fetched (no 'keep'): the mailbox is empty.
    assert pop3_fetch_all(facteur) == []


def test_big_message_intact(facteur):
    encoded = base64.b64encode(random.Random(42).randbytes(4 * 1024 * 1024)).decode()
    body = "".join(encoded[i:i + 76] + "\r\n" for i in range(0, len(encoded), 76))
    msg = make_message("five mebibytes", body=body)
    assert len(msg) > 5 * 1024 * 1024
    assert send_mx(facteur, msg) == {}
    for mode in ("stls", "tls"):
        p = pop3_client(facteur, mode)
        count, size = p.stat()
        assert count == 1
        _, lines, octets = p.retr(1)
        raw = b"\r\n".join(lines) + b"\r\n"
        p.quit()
        assert len(raw) == size
        assert hashlib.sha256(raw[-len(msg):]).hexdigest() == hashlib.sha256(msg).hexdigest()
