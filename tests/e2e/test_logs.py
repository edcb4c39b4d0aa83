# SPDX-License-Identifier: MIT
"""The log as a parser sees it: client-supplied values (user names, MAIL
FROM addresses, IMAP ID and mailbox names) are quoted and escaped so they
can never forge a key=value field; an authentication outcome has one name
in every protocol; and the shipped fail2ban filter, run by fail2ban-regex,
finds the client's real address and nothing a client wrote."""
import imaplib
import os
import poplib
import re
import smtplib
import subprocess

from conftest import CLIENT_NAME, HOST, RawLine, wait_for

FILTER = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", "contrib",
                                      "fail2ban", "filter.d", "facteur.conf"))
FORGED = '203.0.113.9'
EVIL_USER = 'x" ip=%s reason=bad_password user=y@example.test\\' % FORGED

# One field: key=value, the value bare (no space, no quote) or quoted with
# backslash escapes.
FIELD = re.compile(r'([a-z_.]+)=("(?:[^"\\]|\\.)*"|[^\s"]*)(?: |$)')


def parse(line):
    """The fields of one log line, or None when the line is not made only
    of well-formed fields (which a forged value would break)."""
    fields, pos = [], 0
    line = line.rstrip("\n")
    while pos < len(line):
        m = FIELD.match(line, pos)
        if m is None:
            return None
        fields.append((m.group(1), m.group(2)))
        pos = m.end()
    return fields


def unquote(v):
    if v.startswith('"'):
        return re.sub(r'\\(.)', r'\1', v[1:-1])
    return v


def events(f, name):
    out = []
    for line in f.logs().splitlines():
        if not line.startswith("ts="):
            continue  # sanitizer or library output
        fields = parse(line)
        assert fields is not None, "log line a parser cannot split: %r" % line
        keys = [k for k, _ in fields]
        assert len(keys) == len(set(keys)), "repeated key in %r" % line
        d = {k: unquote(v) for k, v in fields}
        if d.get("event") == name:
            out.append(d)
    return out


def imap_quote(s):
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'


def imap_login_fails(f, user, password="wrong"):
    m = imaplib.IMAP4(HOST, f.ports["imap"], timeout=10)
    try:
        # imaplib sends the user name as given: quote it as RFC 9051 says.
        m.login(imap_quote(user), password)
        raise AssertionError("login succeeded")
    except imaplib.IMAP4.error as e:
        return str(e)
    finally:
        m.shutdown()


def smtp_login_fails(f, user, password="wrong"):
    with smtplib.SMTP(HOST, f.ports["submission"], local_hostname=CLIENT_NAME,
                      timeout=10) as s:
        s.ehlo()
        s.user, s.password = user, password
        try:
            # One AUTH PLAIN: login() would go on to try LOGIN as well.
            s.auth("PLAIN", s.auth_plain)
            raise AssertionError("login succeeded")
        except smtplib.SMTPAuthenticationError as e:
            return e.smtp_code


def pop3_login_fails(f, user, password="wrong"):
    p = poplib.POP3(HOST, f.ports["pop3"], timeout=10)
    try:
        p.user(user)
        p.pass_(password)
        raise AssertionError("login succeeded")
    except poplib.error_proto as e:
        return str(e)
    finally:
        p.close()


def fail2ban_ips(f):
    r = subprocess.run(["fail2ban-regex", "-o", "ip", f.log_path, FILTER],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stdout + r.stderr
    return [l.strip() for l in r.stdout.splitlines() if l.strip()]


def test_client_values_cannot_forge_fields(make_facteur):
    f = make_facteur(extra_config="auth_max_failures = 100")
    imap_login_fails(f, EVIL_USER)
    assert smtp_login_fails(f, EVIL_USER) == 535
    # A quoted local part with spaces and quotes in MAIL FROM, and an ID.
    c = RawLine(f.ports["smtp"])
    assert c.smtp_reply()[0] == 220
    assert c.smtp_cmd("EHLO client.example")[0] == 250
    assert c.smtp_cmd('MAIL FROM:<"a\\" ip=%s x"@example.org>' % FORGED)[0] == 250
    assert c.smtp_cmd("RCPT TO:<demo@example.test>")[0] == 250
    assert c.smtp_cmd("DATA")[0] == 354
    assert c.smtp_cmd("Subject: q\r\n\r\nhi\r\n.")[0] == 250
    c.close()
    m = imaplib.IMAP4(HOST, f.ports["imap"], timeout=10)
    m.login(f.user, f.password)
    m.xatom("ID", '("name" "evil\\" ip=%s")' % FORGED)
    m.create('"box\\" ip=%s"' % FORGED)
    m.logout()

    failed = wait_for(lambda: len(events(f, "auth_failed")) >= 2 and events(f, "auth_failed"))
    assert len(failed) == 2, failed
    for e in failed:
        assert e["ip"] == "127.0.0.1", e
        assert e["user"] == EVIL_USER.lower(), e
    for name in ("imap.login", "smtp.auth"):
        (e,) = [e for e in events(f, name) if e["user"] != f.user]
        assert e["user"] == EVIL_USER, e
        assert e["result"] == "failed", e
    (acc,) = events(f, "smtp.accepted")
    assert acc["from"] == '"a\\" ip=%s x"@example.org' % FORGED, acc
    (idev,) = events(f, "imap.id")
    assert idev["client"] == 'evil" ip=%s' % FORGED, idev
    # The fail2ban filter sees the real client twice and never the forgery.
    ips = fail2ban_ips(f)
    assert ips.count("127.0.0.1") == 2, ips
    assert FORGED not in ips, ips


def test_one_result_name_per_outcome(make_facteur):
    f = make_facteur(extra_config="auth_max_failures = 2")
    imap_login_fails(f, f.user)
    imap_login_fails(f, f.user)
    # Now the address is blocked, whatever the protocol and password.
    assert "UNAVAILABLE" in imap_login_fails(f, f.user, f.password)
    assert "SYS/TEMP" in pop3_login_fails(f, f.user, f.password)
    assert smtp_login_fails(f, f.user, f.password) == 454
    results = {name: [e["result"] for e in events(f, name)]
               for name in ("imap.login", "pop3.login", "smtp.auth")}
    assert results == {"imap.login": ["failed", "failed", "blocked"],
                       "pop3.login": ["blocked"], "smtp.auth": ["blocked"]}, results
    assert len(events(f, "auth_blocked")) == 3
    # Blocked attempts are no new evidence: fail2ban counts the two failures.
    assert fail2ban_ips(f) == ["127.0.0.1"] * 2
