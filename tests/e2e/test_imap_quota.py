# SPDX-License-Identifier: MIT
"""QUOTA (RFC 9208) with Python's imaplib against a running facteur whose
quota is set with `facteur user quota` while it runs: no quota root
without a quota, STORAGE in KiB after deliveries, SETQUOTA refused, STATUS
DELETED-STORAGE, and APPEND / COPY refused with [OVERQUOTA] when full while
MOVE inside the account still works."""
import imaplib
import re

from conftest import HOST, make_message, send_mx

imaplib.Commands.setdefault("MOVE", ("SELECTED",))


def login(f):
    m = imaplib.IMAP4(HOST, f.ports["imap"], timeout=10)
    assert m.login(f.user, f.password)[0] == "OK"
    return m


def used_bytes(f):
    out = f.cli("user", "list").stdout
    return int(re.search(re.escape(f.user) + r"\s+used=(\d+)", out).group(1))


def test_quota_roundtrip(facteur):
    f = facteur
    m = login(f)
    typ, data = m.capability()
    caps = data[0].split()
    assert b"QUOTA" in caps and b"QUOTA=RES-STORAGE" in caps
    typ, data = m.getquotaroot("INBOX")
    assert typ == "OK" and data[0] == [b"INBOX"] and data[1] == [None]
    typ, data = m.getquota('""')
    assert typ == "NO" and b"NONEXISTENT" in data[0]

    for i in range(2):
        assert send_mx(f, make_message("quota %d" % i, body="x" * 3000 + "\r\n")) == {}
    f.cli("user", "quota", f.user, "1M")
    used = used_bytes(f)
    kib = (used + 1023) // 1024
    typ, data = m.getquotaroot("INBOX")
    assert typ == "OK"
    assert data[0] == [b'INBOX ""']
    assert data[1] == [b'"" (STORAGE %d 1024)' % kib]
    typ, data = m.getquota('""')
    assert typ == "OK" and data == [b'"" (STORAGE %d 1024)' % kib]

    typ, data = m.setquota('""', "(STORAGE 2048)")
    assert typ == "NO" and b"NOPERM" in data[0]
    try:
        m._simple_command("SETQUOTA", '""', "(STORAGE)")
        raise AssertionError("SETQUOTA without a limit was accepted")
    except imaplib.IMAP4.error as e:
        assert "BAD" in str(e)

    # DELETED-STORAGE: the \Deleted message's size, in KiB.
    assert m.select("INBOX")[0] == "OK"
    assert m.store("1", "+FLAGS", "(\\Deleted)")[0] == "OK"
    typ, data = m.status("INBOX", "(DELETED DELETED-STORAGE)")
    assert typ == "OK"
    deleted = re.search(rb"DELETED (\d+) DELETED-STORAGE (\d+)", data[0])
    assert deleted and int(deleted.group(1)) == 1
    assert 3 <= int(deleted.group(2)) <= kib
    assert m.store("1", "-FLAGS", "(\\Deleted)")[0] == "OK"

    # Full: APPEND and COPY are refused with OVERQUOTA, MOVE still works.
    f.cli("user", "quota", f.user, str(used))
    typ, data = m.append("INBOX", None, None, make_message("one too many"))
    assert typ == "NO" and b"[OVERQUOTA]" in data[0]
    typ, data = m.copy("1", "Archive")
    assert typ == "NO" and b"[OVERQUOTA]" in data[0]
    typ, data = m._simple_command("MOVE", "1", "Archive")
    assert typ == "OK", data
    typ, data = m.getquota('""')
    assert typ == "OK" and data == [b'"" (STORAGE %d %d)' % (kib, kib)]
    # Unlimited again: no quota root any more, APPEND works.
    f.cli("user", "quota", f.user, "0")
    typ, data = m.getquotaroot("Archive")
    assert typ == "OK" and data[0] == [b"Archive"]
    assert m.append("INBOX", None, None, make_message("fits now"))[0] == "OK"
    m.logout()
