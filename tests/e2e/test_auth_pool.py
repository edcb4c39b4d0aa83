# SPDX-License-Identifier: MIT
"""Password checks off the event loop (issue 9 item 2), with real clients:

- while a burst of wrong-password logins from other loopback addresses is
  being hashed, a logged-in user's NOOP on the same worker is answered
  before those logins are (before the change the worker hashed them one
  after another and the NOOP waited behind all of them). No clock is
  read: the test only looks at which answers have arrived;
- failures to one account from several addresses block that account in
  every protocol (IMAP, POP3, SMTP AUTH, HTTP /api/login and Basic), each
  address staying under its own limit, while other accounts still log in.
"""
import base64
import http.client
import json
import select
import smtplib
import socket

from conftest import CLIENT_NAME, HOST, RawLine


def raw_from(src, port, timeout=30):
    """A RawLine connected from loopback address src."""
    sock = socket.create_connection((HOST, port), timeout, source_address=(src, 0))
    return RawLine(port, timeout, sock=sock)


def imap_login_line(conn, tag, user, password):
    conn.send('%s LOGIN "%s" "%s"\r\n' % (tag, user, password))
    while True:
        line = conn.readline()
        if line.startswith(tag.encode() + b" "):
            return line


def test_noop_not_behind_hashing(make_facteur):
    f = make_facteur(extra_config="workers = 1")
    user = RawLine(f.ports["imap"], timeout=30)
    assert user.readline().startswith(b"* OK")
    assert imap_login_line(user, "l", f.user, f.password).startswith(b"l OK")

    # Sixteen clients on 127.0.0.2-17, greeted, each about to send one wrong password.
    attackers = []
    for i in range(16):
        a = raw_from("127.0.0.%d" % (i + 2), f.ports["imap"])
        assert a.readline().startswith(b"* OK")
        attackers.append(a)
    for a in attackers:
        a.send('x LOGIN "%s" "wrong password"\r\n' % f.user)
    user.send("n NOOP\r\n")
    assert user.readline() == b"n OK NOOP completed\r\n"
    # The NOOP is answered; at that moment the hashes of the sixteen
    # logins (20-45 ms each, at most auth_threads at a time) cannot all be
    # done: some attackers still wait for their answer.
    ready, _, _ = select.select([a.sock for a in attackers], [], [], 0)
    assert len(ready) < len(attackers), "the NOOP waited for every login's hash"
    for a in attackers:
        line = a.readline()
        assert line.startswith(b"x NO [AUTHENTICATIONFAILED]"), line
        a.close()
    user.close()


def login_http(f, src, user, password):
    c = http.client.HTTPConnection(HOST, f.ports["http"], timeout=30, source_address=(src, 0))
    c.request("POST", "/api/login", body=json.dumps({"username": user, "password": password}),
              headers={"Content-Type": "application/json"})
    r = c.getresponse()
    r.read()
    c.close()
    return r.status


def basic_http(f, src, user, password):
    c = http.client.HTTPConnection(HOST, f.ports["http"], timeout=30, source_address=(src, 0))
    token = base64.b64encode(("%s:%s" % (user, password)).encode()).decode()
    c.request("GET", "/jmap/session", headers={"Authorization": "Basic " + token})
    r = c.getresponse()
    r.read()
    c.close()
    return r.status


def pop3_login(f, src, user, password):
    p = raw_from(src, f.ports["pop3"])
    assert p.readline().startswith(b"+OK")
    p.send("USER %s\r\n" % user)
    assert p.readline().startswith(b"+OK")
    p.send("PASS %s\r\n" % password)
    line = p.readline()
    p.send("QUIT\r\n")
    p.close()
    return line


def smtp_auth(f, src, user, password):
    s = smtplib.SMTP(HOST, f.ports["submission"], local_hostname=CLIENT_NAME, timeout=30,
                     source_address=(src, 0))
    s.ehlo()
    try:
        s.login(user, password)
        return 235
    except smtplib.SMTPAuthenticationError as e:
        return e.smtp_code
    finally:
        s.close()


def test_account_limit_every_protocol(make_facteur):
    f = make_facteur(extra_config="auth_account_max_failures = 3\n")
    f.add_user("other@example.test", "other password 1")
    # One wrong password from each of three addresses: no address is
    # blocked by itself (auth_max_failures is 5), the account is.
    for i, src in enumerate(("127.0.0.2", "127.0.0.3", "127.0.0.4")):
        c = raw_from(src, f.ports["imap"])
        c.readline()
        assert imap_login_line(c, "a", f.user, "guess %d" % i).startswith(
            b"a NO [AUTHENTICATIONFAILED]")
        c.close()
    src = "127.0.0.5"
    c = raw_from(src, f.ports["imap"])
    c.readline()
    assert imap_login_line(c, "b", f.user, f.password).startswith(b"b NO [UNAVAILABLE]")
    c.close()
    assert pop3_login(f, src, f.user, f.password).startswith(b"-ERR [SYS/TEMP]")
    assert smtp_auth(f, src, f.user, f.password) == 454
    assert login_http(f, src, f.user, f.password) == 429
    assert basic_http(f, src, f.user, f.password) == 429
    # Another account from the same address is not affected.
    c = raw_from(src, f.ports["imap"])
    c.readline()
    assert imap_login_line(c, "c", "other@example.test", "other password 1").startswith(b"c OK")
    c.close()
    assert pop3_login(f, src, "other@example.test", "other password 1").startswith(b"+OK")
    assert smtp_auth(f, src, "other@example.test", "other password 1") == 235
    assert login_http(f, src, "other@example.test", "other password 1") == 200
    assert basic_http(f, src, "other@example.test", "other password 1") == 200
    logs = f.logs()
    assert "event=auth_blocked ip=127.0.0.5 limit=account" in logs
    assert "limit=address" not in logs
