# SPDX-License-Identifier: MIT
"""IMAP with Python's imaplib: capabilities, STARTTLS, implicit TLS,
LOGIN and AUTHENTICATE PLAIN (good and bad), LOGOUT, the login cache
against a password change; and over a raw socket the STARTTLS
command-injection case, synchronising literals and the caps before
authentication."""
import imaplib

import pytest

from conftest import HOST, RawLine


def imap_plain(f, timeout=10):
    return imaplib.IMAP4(HOST, f.ports["imap"], timeout=timeout)


def test_starttls_login_capability_logout(facteur):
    m = imap_plain(facteur)
    caps = m.capabilities
    for c in ("IMAP4REV1", "IMAP4REV2", "STARTTLS", "AUTH=PLAIN", "LITERAL+", "SASL-IR"):
        assert c in caps, caps
    typ, _ = m.starttls(ssl_context=facteur.tls_context())
    assert typ == "OK"
    typ, data = m.capability()
    assert typ == "OK"
    assert b"STARTTLS" not in data[0]
    typ, data = m.login(facteur.user, facteur.password)
    assert typ == "OK", data
    typ, data = m.capability()
    assert b"IMAP4rev2" in data[0] and b"AUTH=PLAIN" not in data[0]
    assert m.noop()[0] == "OK"
    typ, data = m.logout()
    assert typ == "BYE"


def test_imaps_login(facteur):
    m = imaplib.IMAP4_SSL(HOST, facteur.ports["imaps"], ssl_context=facteur.tls_context(),
                          timeout=10)
    assert "STARTTLS" not in m.capabilities
    assert m.login(facteur.user, facteur.password)[0] == "OK"
    typ, data = m.xatom("ID", "NIL")
    assert typ == "OK"
    m.logout()


def test_bad_password(facteur):
    m = imaplib.IMAP4_SSL(HOST, facteur.ports["imaps"], ssl_context=facteur.tls_context(),
                          timeout=10)
    with pytest.raises(imaplib.IMAP4.error) as e:
        m.login(facteur.user, "not the password")
    assert "AUTHENTICATIONFAILED" in str(e.value)
    # The session goes on: a good login afterwards works.
    assert m.login(facteur.user, facteur.password)[0] == "OK"
    m.logout()


def test_login_cache_password_change(facteur):
    """A login the cache remembers (auth_cache_ttl, on by default) must not
    outlive a password change: the old password is refused at once, from
    the next login on, while the new one works."""
    facteur.add_user("cache@example.test", "first password 1")
    for _ in range(2):  # the second login is the cached one
        m = imap_plain(facteur)
        assert m.login("cache@example.test", "first password 1")[0] == "OK"
        m.logout()
    facteur.cli("user", "passwd", "cache@example.test", "--password-stdin",
                input="second password 2\n")
    m = imap_plain(facteur)
    with pytest.raises(imaplib.IMAP4.error) as e:
        m.login("cache@example.test", "first password 1")
    assert "AUTHENTICATIONFAILED" in str(e.value)
    assert m.login("cache@example.test", "second password 2")[0] == "OK"
    m.logout()


def test_authenticate_plain(facteur):
    m = imap_plain(facteur)
    m.starttls(ssl_context=facteur.tls_context())
    creds = ("\0%s\0%s" % (facteur.user, facteur.password)).encode()
    typ, _ = m.authenticate("PLAIN", lambda challenge: creds)
    assert typ == "OK"
    m.logout()


def read_tagged(c, tag):
    """Lines up to and including the one tagged tag."""
    lines = []
    while True:
        l = c.readline()
        lines.append(l)
        if l.startswith(tag.encode() + b" "):
            return lines


def test_starttls_injection(facteur):
    c = RawLine(facteur.ports["imap"], timeout=5)
    assert c.readline().startswith(b"* OK [CAPABILITY ")
    c.send("a STARTTLS\r\nb LOGOUT\r\n")
    assert c.readline() == b"a OK Begin TLS negotiation now\r\n"
    c.starttls(facteur.tls_context())
    assert c.nothing_pending(1.5), "server answered a command injected before TLS"
    c.send("c NOOP\r\n")
    assert c.readline() == b"c OK NOOP completed\r\n"
    c.close()


def test_literals_and_caps(facteur):
    c = RawLine(facteur.ports["imap"], timeout=5)
    c.readline()
    user, pw = facteur.user.encode(), facteur.password.encode()
    # An oversized synchronising literal is refused before it is sent.
    c.send("a LOGIN {100000}\r\n")
    assert c.readline() == b"a NO [TOOBIG] Literal too big\r\n"
    # A line over 8 KiB before login is refused, and the stream stays usable.
    c.send(b"b LOGIN " + b"x" * 9000 + b" y\r\n")
    assert c.readline() == b"b BAD Line too long\r\n"
    c.send(b"c LOGIN {%d}\r\n" % len(user))
    assert c.readline() == b"+ Ready for literal\r\n"
    c.send(user + b" {%d+}\r\n" % len(pw) + pw + b"\r\n")
    lines = read_tagged(c, "c")
    assert lines[-1].startswith(b"c OK [CAPABILITY "), lines
    c.send("d SELECT\r\ne LOGIN x y\r\nf LOGOUT\r\n")
    assert read_tagged(c, "d")[-1].startswith(b"d BAD")
    assert read_tagged(c, "e")[-1].startswith(b"e BAD")
    lines = read_tagged(c, "f")
    assert lines[0].startswith(b"* BYE") and lines[-1].startswith(b"f OK")
    c.close()
