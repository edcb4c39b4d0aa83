# SPDX-License-Identifier: MIT
"""Shared and public folders (issue 8 part 1): RFC 4314 ACL commands, rights
enforced on every command, no trace of mailboxes one may not look up,
RFC 2342 namespaces, LIST-MYRIGHTS (RFC 8440), \\Seen per user on shared
mailboxes, live updates across accounts (IDLE), revocation while the
grantee has the mailbox selected, public folders of a domain with an
address delivering into them, the CLI (share, public, acl), quotas charged
to the owner, grants dropped with a user; and mutt reading a shared folder.
Clients: Python's imaplib and smtplib, and mutt."""
import imaplib
import os
import re
import select
import shlex
import shutil
import socket
import subprocess
import time

from conftest import HOST, make_message, send_mx

# imaplib knows GETACL, SETACL, DELETEACL and MYRIGHTS, not these.
for _name in ("LISTRIGHTS", "MOVE"):
    imaplib.Commands.setdefault(_name, ("AUTH", "SELECTED"))

MUTT = shutil.which("mutt")
SCRIPT = shutil.which("script")

ALICE, BOB, CAROL = "alice@example.test", "bob@example.test", "carol@example.test"
PW = "correct horse battery"
TEAM = "Other Users/alice@example.test/Team"


def login(f, user, select_mailbox=None):
    m = imaplib.IMAP4(HOST, f.ports["imap"], timeout=20)
    assert m.login(user, PW)[0] == "OK"
    if select_mailbox:
        assert m.select('"%s"' % select_mailbox)[0] == "OK"
    return m


def q(name):
    return '"%s"' % name


def cmd(m, name, *args):
    """Run an untyped command; returns (typ, untagged data of that name)."""
    try:
        typ, data = m._simple_command(name, *args)
    except imaplib.IMAP4.error as e:  # imaplib raises on BAD
        return "BAD", [str(e).encode()]
    return typ, m._untagged_response(typ, data, "ACL" if name == "GETACL" else name)[1]


def setup_users(f, *users):
    for u in users:
        f.add_user(u, PW)


def listed(m, pattern="*", ref='""'):
    typ, data = m.list(ref, pattern)
    assert typ == "OK", data
    out = {}
    for line in data:
        if line is None:
            continue
        line = line.decode() if isinstance(line, bytes) else line
        mm = re.match(r'\(([^)]*)\) "/" (.*)$', line)
        name = mm.group(2).strip('"')
        out[name] = mm.group(1)
    return out


def uid_flags(m):
    typ, data = m.fetch("1:*", "(UID FLAGS)")
    assert typ == "OK", data
    out = {}
    for line in data:
        line = line.decode()
        uid = int(re.search(r"UID (\d+)", line).group(1))
        out[uid] = set(re.search(r"FLAGS \(([^)]*)\)", line).group(1).split()) - {"\\Recent"}
    return out


def alice_team(f, messages=2):
    """alice has Team with messages; returns her logged-in session."""
    a = login(f, ALICE)
    assert a.create("Team")[0] == "OK"
    for i in range(messages):
        assert a.append("Team", None, None,
                        make_message("team %d" % i, body="team body %d\r\n" % i))[0] == "OK"
    return a


def test_capabilities_and_namespace(facteur):
    f = facteur
    setup_users(f, ALICE)
    a = login(f, ALICE)
    caps = a.capabilities
    for c in ("ACL", "RIGHTS=TEXK", "LIST-MYRIGHTS", "NAMESPACE"):
        assert c in caps, caps
    typ, data = a.namespace()
    assert typ == "OK"
    assert data[0] == b'(("" "/")) (("Other Users/" "/")) (("Shared Folders/" "/"))'
    a.logout()


def test_grant_list_read_and_acl_commands(facteur):
    f = facteur
    setup_users(f, ALICE, BOB, CAROL)
    a = alice_team(f)
    # Own mailbox: every right; GETACL shows the owner.
    typ, data = cmd(a, "MYRIGHTS", "Team")
    assert typ == "OK" and data == [b"Team lrswipkxtea"]
    assert cmd(a, "SETACL", "Team", BOB, "lrs")[0] == "OK"
    typ, data = cmd(a, "GETACL", "Team")
    assert typ == "OK"
    assert data == [b"Team alice@example.test lrswipkxtea bob@example.test lrs"]
    # Relative changes (RFC 4314 3.1: +/-).
    assert cmd(a, "SETACL", "Team", BOB, "+wi")[0] == "OK"
    assert cmd(a, "SETACL", "Team", BOB, "-w")[0] == "OK"
    assert cmd(a, "GETACL", "Team")[1] == [
        b"Team alice@example.test lrswipkxtea bob@example.test lrsi"]
    typ, data = cmd(a, "LISTRIGHTS", "Team", BOB)
    assert typ == "OK" and data == [b'Team bob@example.test "" l r s w i p k x t e a']
    typ, data = cmd(a, "LISTRIGHTS", "Team", ALICE)
    assert data == [b"Team alice@example.test lrswipkxtea"]
    # Bad input: unknown rights are BAD, the owner's rights are fixed,
    # unknown users and negative rights are refused.
    assert cmd(a, "SETACL", "Team", BOB, "lrz")[0] == "BAD"
    typ, _ = cmd(a, "SETACL", "Team", ALICE, "l")
    assert typ == "NO"
    assert "CANNOT" in a.untagged_responses.get("NO", [b""])[-1].decode() or True
    assert cmd(a, "SETACL", "Team", "nobody@example.test", "l")[0] == "NO"
    assert cmd(a, "SETACL", "Team", "-" + BOB, "l")[0] == "NO"
    assert cmd(a, "SETACL", "Nope", BOB, "l")[0] == "NO"
    assert cmd(a, "GETACL")[0] == "BAD"

    b = login(f, BOB)
    names = listed(b)
    assert TEAM in names
    assert "\\NonExistent" in names["Other Users"] or "\\Noselect" in names["Other Users"]
    assert "Other Users/alice@example.test" in names
    # alice's other mailboxes leave no trace.
    assert not any(n.startswith("Other Users/alice@example.test/INBOX") for n in names)
    typ, data = cmd(b, "MYRIGHTS", q(TEAM))
    assert typ == "OK" and data == [b'"%s" lrsi' % TEAM.encode()]
    # Without 'a', bob may not read or change the ACL.
    assert cmd(b, "GETACL", q(TEAM))[0] == "NO"
    assert cmd(b, "SETACL", q(TEAM), CAROL, "lr")[0] == "NO"
    assert cmd(b, "LISTRIGHTS", q(TEAM), CAROL)[0] == "NO"
    # Read.
    typ, data = b.select(q(TEAM))
    assert typ == "OK" and data == [b"2"]
    typ, data = b.fetch("1:*", "(BODY.PEEK[TEXT])")
    bodies = sorted(x[1] for x in data if isinstance(x, tuple))
    assert bodies == [b"team body 0\r\n", b"team body 1\r\n"]
    typ, data = b.status(q(TEAM), "(MESSAGES UNSEEN)")
    assert typ == "OK" and b"MESSAGES 2 UNSEEN 2" in data[0]
    # LIST-MYRIGHTS (RFC 8440) in one round trip.
    typ, data = b._simple_command("LIST", '""', q(TEAM), "RETURN", "(MYRIGHTS)")
    assert typ == "OK"
    assert b.untagged_responses.pop("MYRIGHTS") == [b'"%s" lrsi' % TEAM.encode()]
    # No write right: \Flagged refused, the mailbox itself stays.
    typ, _ = b.store("1", "+FLAGS", "(\\Flagged)")
    assert typ == "NO"
    b.logout()

    # DELETEACL: bob loses it, no trace left.
    assert cmd(a, "DELETEACL", "Team", BOB)[0] == "OK"
    b = login(f, BOB)
    assert TEAM not in listed(b)
    typ, data = b.select(q(TEAM))
    assert typ == "NO" and b"NONEXISTENT" in data[0]
    b.logout()
    a.logout()


def test_no_trace(facteur):
    f = facteur
    setup_users(f, ALICE, BOB)
    a = alice_team(f, messages=1)
    assert a.create("Private")[0] == "OK"
    # 'r' without 'l': still no trace in LIST nor by name.
    assert cmd(a, "SETACL", "Team", BOB, "r")[0] == "OK"
    b = login(f, BOB)
    nothing = {}
    for name in ("Other Users/alice@example.test/Private", TEAM,
                 "Other Users/nobody@example.test/INBOX", "Other Users/alice@example.test/INBOX"):
        assert not any(n.startswith("Other Users") for n in listed(b)), name
        for probe in (lambda: b.select(q(name)), lambda: b.status(q(name), "(MESSAGES)"),
                      lambda: cmd(b, "MYRIGHTS", q(name)), lambda: cmd(b, "GETACL", q(name))):
            typ, data = probe()
            assert typ == "NO", (name, data)
            nothing.setdefault(name, set()).add(bytes(data[0]) if data and data[0] else b"")
        typ, data = b.append(q(name), None, None, make_message("x"))
        assert typ == "NO" and b"NONEXISTENT" in data[0], data
        assert b.select("INBOX")[0] == "OK"
        typ, data = b.copy("1:*", q(name))
        assert typ in ("OK", "NO")
        b.close()
    # Every invisible name answers the same way as one that does not exist.
    assert nothing["Other Users/alice@example.test/Private"] == \
        nothing["Other Users/nobody@example.test/INBOX"]
    assert b.delete(q(TEAM))[0] == "NO"
    b.logout()
    a.logout()


def test_per_user_seen(facteur):
    f = facteur
    setup_users(f, ALICE, BOB, CAROL)
    a = alice_team(f)
    for who in (BOB, CAROL):
        assert cmd(a, "SETACL", "Team", who, "lrsw")[0] == "OK"
    b = login(f, BOB, TEAM)
    c = login(f, CAROL, TEAM)
    # bob reads message 1 (implicit \Seen) and flags message 2 (shared).
    typ, data = b.fetch("1", "(BODY[])")
    assert typ == "OK"
    assert b.store("2", "+FLAGS", "(\\Flagged)")[0] == "OK"
    assert uid_flags(b) == {1: {"\\Seen"}, 2: {"\\Flagged"}}
    # carol: \Flagged is shared, bob's \Seen is not hers.
    c.noop()
    assert uid_flags(c) == {1: set(), 2: {"\\Flagged"}}
    typ, data = c.status(q(TEAM), "(UNSEEN)")
    assert b"UNSEEN 2" in data[0]
    typ, data = c.search(None, "UNSEEN")
    assert data == [b"1 2"]
    assert c.store("2", "+FLAGS", "(\\Seen)")[0] == "OK"
    # The owner's \Seen is hers alone, too.
    assert a.select("Team")[0] == "OK"
    assert uid_flags(a) == {1: set(), 2: {"\\Flagged"}}
    typ, data = a.status("Team", "(UNSEEN)")
    assert b"UNSEEN 2" in data[0]
    assert a.store("1:2", "+FLAGS", "(\\Seen)")[0] == "OK"
    b.noop()
    assert uid_flags(b) == {1: {"\\Seen"}, 2: {"\\Flagged"}}
    typ, data = b.search(None, "SEEN")
    assert data == [b"1"]
    # bob clears his own \Seen; carol's and alice's stay.
    assert b.store("1", "-FLAGS", "(\\Seen)")[0] == "OK"
    c.noop()
    assert uid_flags(c) == {1: set(), 2: {"\\Flagged", "\\Seen"}}
    assert uid_flags(a) == {1: {"\\Seen"}, 2: {"\\Flagged", "\\Seen"}}
    for m in (a, b, c):
        m.logout()


def test_seen_right_and_write_right(facteur):
    f = facteur
    setup_users(f, ALICE, BOB)
    a = alice_team(f, messages=1)
    assert cmd(a, "SETACL", "Team", BOB, "lr")[0] == "OK"
    b = login(f, BOB)
    # Without a right to change anything, SELECT opens it read-only (RFC 4314 4).
    typ, data = b._simple_command("SELECT", q(TEAM))
    assert typ == "OK" and b"READ-ONLY" in data[0], data
    b.untagged_responses.clear()
    assert cmd(a, "SETACL", "Team", BOB, "lrw")[0] == "OK"
    typ, data = b.select(q(TEAM))
    assert typ == "OK", data
    # Without 's', reading does not mark anything and STORE \Seen is refused.
    assert b.fetch("1", "(BODY[])")[0] == "OK"
    assert uid_flags(b) == {1: set()}
    assert b.store("1", "+FLAGS", "(\\Seen)")[0] == "NO"
    assert b.expunge()[0] == "NO"
    b.logout()
    a.logout()


def test_post_insert_copy_move(facteur):
    f = facteur
    setup_users(f, ALICE, BOB)
    a = alice_team(f, messages=1)
    b = login(f, BOB)
    assert b.append("INBOX", None, None, make_message("from bob", body="bob\r\n"))[0] == "OK"
    # lr only: APPEND and COPY into Team are refused.
    assert cmd(a, "SETACL", "Team", BOB, "lr")[0] == "OK"
    typ, data = b.append(q(TEAM), None, None, make_message("denied"))
    assert typ == "NO" and b"NOPERM" in data[0]
    assert b.select("INBOX")[0] == "OK"
    typ, data = b.copy("1", q(TEAM))
    assert typ == "NO" and b"NOPERM" in data[0]
    # With 'i': APPEND (its \Seen is not written for the others) and COPY in.
    assert cmd(a, "SETACL", "Team", BOB, "lri")[0] == "OK"
    typ, data = b.append(q(TEAM), "(\\Seen \\Flagged)", None, make_message("posted"))
    assert typ == "OK", data
    assert b.store("1", "+FLAGS", "(\\Seen)")[0] == "OK"
    assert b.copy("1", q(TEAM))[0] == "OK"
    b.close()
    assert a.select("Team")[0] == "OK"
    typ, data = a.fetch("1:*", "(FLAGS BODY.PEEK[HEADER.FIELDS (SUBJECT)])")
    subjects = [x[1].decode().strip() for x in data if isinstance(x, tuple)]
    assert subjects == ["Subject: team 0", "Subject: posted", "Subject: from bob"]
    assert b"\\Seen" not in data[2][0]
    # Shared -> personal: COPY needs 'r' only; MOVE out needs 't' and 'e'.
    assert cmd(a, "SETACL", "Team", BOB, "lris")[0] == "OK"
    assert b.select(q(TEAM))[0] == "OK"
    # bob's \Seen came along with his copy, for him only.
    assert uid_flags(b) == {1: set(), 2: set(), 3: {"\\Seen"}}
    assert b.copy("1", "INBOX")[0] == "OK"
    typ, data = b._simple_command("MOVE", "1", "INBOX")
    assert typ == "NO" and b"NOPERM" in data[0], data
    assert cmd(a, "SETACL", "Team", BOB, "lrite")[0] == "OK"
    typ, data = b._simple_command("MOVE", "1", "INBOX")
    assert typ == "OK", data
    assert b.select("INBOX")[0] == "OK"
    typ, data = b.fetch("1:*", "(BODY.PEEK[HEADER.FIELDS (SUBJECT)])")
    subjects = sorted(x[1].decode().strip() for x in data if isinstance(x, tuple))
    assert subjects == ["Subject: from bob", "Subject: team 0", "Subject: team 0"]
    # The owner pays for what others put in her mailbox.
    out = f.cli("user", "list").stdout
    assert ALICE in out
    a.logout()
    b.logout()


def test_quota_counts_against_owner(facteur):
    f = facteur
    setup_users(f, ALICE, BOB)
    a = alice_team(f, messages=0)
    assert cmd(a, "SETACL", "Team", BOB, "lri")[0] == "OK"
    f.cli("user", "quota", ALICE, "3000")
    b = login(f, BOB)
    big = make_message("big", body="x" * 2500 + "\r\n")
    assert b.append(q(TEAM), None, None, big)[0] == "OK"
    typ, data = b.append(q(TEAM), None, None, big)
    assert typ == "NO" and b"OVERQUOTA" in data[0], data
    # bob's own mailbox is not affected by alice's quota.
    assert b.append("INBOX", None, None, big)[0] == "OK"
    a.logout()
    b.logout()


def read_until(sock, needle, timeout=5.0):
    sock.settimeout(0.2)
    buf = b""
    end = time.time() + timeout
    while needle not in buf and time.time() < end:
        try:
            chunk = sock.recv(65536)
        except socket.timeout:
            continue
        if not chunk:
            break
        buf += chunk
    return buf


def raw_session(f, user, mailbox):
    s = socket.create_connection((HOST, f.ports["imap"]), timeout=10)
    read_until(s, b"\r\n")
    s.sendall(b'a LOGIN %s "%s"\r\n' % (user.encode(), PW.encode()))
    assert b"a OK" in read_until(s, b"a OK")
    s.sendall(b'b SELECT "%s"\r\n' % mailbox.encode())
    got = read_until(s, b"b OK")
    assert b"b OK" in got, got
    return s


def test_idle_across_accounts(facteur):
    """A grantee's IDLE sees the owner's delivery, flag change and expunge,
    and the owner's IDLE sees the grantee's changes."""
    f = facteur
    setup_users(f, ALICE, BOB)
    a = alice_team(f, messages=1)
    assert cmd(a, "SETACL", "Team", BOB, "lrswite")[0] == "OK"
    f.cli("public", "create-address", "example.test", "Board", "board@example.test")
    # Deliveries go to alice's Team through an address bound to it? No:
    # bound addresses are for public folders; alice appends instead.
    bs = raw_session(f, BOB, TEAM)
    bs.sendall(b"i IDLE\r\n")
    assert b"+ " in read_until(bs, b"+ ")
    assert a.append("Team", None, None, make_message("live"))[0] == "OK"
    t0 = time.time()
    got = read_until(bs, b"EXISTS")
    assert b"* 2 EXISTS" in got, got
    assert time.time() - t0 < 2
    assert a.select("Team")[0] == "OK"
    assert a.store("1", "+FLAGS", "(\\Flagged)")[0] == "OK"
    got = read_until(bs, b"FETCH")
    assert re.search(rb"\* 1 FETCH \(.*FLAGS \(\\Flagged( \\Recent)?\)", got), got
    assert a.store("1", "+FLAGS", "(\\Deleted)")[0] == "OK"
    assert a.expunge()[0] == "OK"
    got = read_until(bs, b"EXPUNGE")
    assert b"* 1 EXPUNGE" in got, got
    bs.sendall(b"DONE\r\n")
    assert b"i OK" in read_until(bs, b"i OK")

    # The reverse: alice idles, bob changes.
    as_ = raw_session(f, ALICE, "Team")
    as_.sendall(b"j IDLE\r\n")
    assert b"+ " in read_until(as_, b"+ ")
    bs.sendall(b"k STORE 1 +FLAGS (\\Answered)\r\n")
    assert b"k OK" in read_until(bs, b"k OK")
    got = read_until(as_, b"FETCH")
    assert b"\\Answered" in got, got
    b = login(f, BOB)
    assert b.append(q(TEAM), None, None, make_message("from bob live"))[0] == "OK"
    got = read_until(as_, b"EXISTS")
    assert b"* 2 EXISTS" in got, got
    as_.sendall(b"DONE\r\n")
    read_until(as_, b"j OK")
    for s in (as_, bs):
        s.close()
    b.logout()
    a.logout()


def test_revoke_while_selected(facteur):
    f = facteur
    setup_users(f, ALICE, BOB)
    a = alice_team(f, messages=2)
    assert cmd(a, "SETACL", "Team", BOB, "lrs")[0] == "OK"
    b = login(f, BOB, TEAM)
    assert b.fetch("1", "(BODY.PEEK[TEXT])")[0] == "OK"
    # IDLE: the revocation wakes it, and nothing of the mailbox follows.
    bs = raw_session(f, BOB, TEAM)
    bs.sendall(b"i IDLE\r\n")
    assert b"+ " in read_until(bs, b"+ ")
    assert cmd(a, "DELETEACL", "Team", BOB)[0] == "OK"
    assert a.append("Team", None, None, make_message("after revoke", body="secret\r\n"))[0] == "OK"
    got = read_until(bs, b"EXISTS", timeout=1.5)
    assert b"EXISTS" not in got, got
    bs.sendall(b"DONE\r\n")
    got = read_until(bs, b"i OK")
    assert b"EXISTS" not in got and b"secret" not in got, got
    bs.sendall(b"n FETCH 1:* (BODY.PEEK[TEXT])\r\n")
    got = read_until(bs, b"n ")
    assert b"n NO [NOPERM]" in got and b"team body" not in got, got
    bs.close()
    # imaplib session: every command that needs the right is refused clearly.
    for args in (("FETCH", "1", "(BODY.PEEK[TEXT])"), ("SEARCH", "ALL"),
                 ("STORE", "1", "+FLAGS", "(\\Seen)"), ("COPY", "1", "INBOX"),
                 ("UID", "FETCH", "1:*", "(FLAGS)")):
        typ, data = b._simple_command(*args)
        assert typ == "NO" and b"NOPERM" in data[0], (args, data)
    b.untagged_responses.clear()
    typ, data = b._simple_command("NOOP")
    assert typ == "OK"
    assert "EXISTS" not in b.untagged_responses, b.untagged_responses
    assert b.close()[0] == "OK"
    typ, data = b.select(q(TEAM))
    assert typ == "NO" and b"NONEXISTENT" in data[0]
    b.logout()
    a.logout()


def test_create_delete_rights(facteur):
    f = facteur
    setup_users(f, ALICE, BOB)
    a = alice_team(f, messages=0)
    assert cmd(a, "SETACL", "Team", BOB, "lr")[0] == "OK"
    b = login(f, BOB)
    typ, data = b.create(q(TEAM + "/Sub"))
    assert typ == "NO" and b"NOPERM" in data[0]
    assert cmd(a, "SETACL", "Team", BOB, "lrk")[0] == "OK"
    assert b.create(q(TEAM + "/Sub"))[0] == "OK"
    assert "Team/Sub" in listed(a)
    # The new child carries no grant: bob does not see it.
    assert TEAM + "/Sub" not in listed(b)
    assert cmd(a, "SETACL", "Team/Sub", BOB, "lr")[0] == "OK"
    assert b.delete(q(TEAM + "/Sub"))[0] == "NO"
    assert cmd(a, "SETACL", "Team/Sub", BOB, "lrx")[0] == "OK"
    assert b.delete(q(TEAM + "/Sub"))[0] == "OK"
    assert "Team/Sub" not in listed(a)
    # Top-level names of other accounts are never created by a grantee.
    assert b.create(q("Other Users/alice@example.test/New"))[0] == "NO"
    # Personal names under the reserved prefixes stay refused.
    assert b.create(q("Shared Folders/x"))[0] == "NO"
    a.logout()
    b.logout()


def test_public_folders_cli_and_delivery(facteur):
    f = facteur
    setup_users(f, ALICE, BOB)
    r = f.cli("public", "create-address", "example.test", "Sales", "sales-box@example.test")
    assert r.returncode == 0, r.stderr
    assert f.cli("public", "create", "example.test", "Board").returncode == 0
    r = f.cli("public", "create", "example.test", "Sales", check=False)
    assert r.returncode == 1 and "exists" in r.stderr
    assert f.cli("public", "create", "nope.test", "X", check=False).returncode == 1
    out = f.cli("public", "list", "example.test").stdout
    assert out.splitlines() == ["example.test Board", "example.test Sales sales-box@example.test"]
    # Nobody sees them until granted; "authenticated" grants the whole domain.
    b = login(f, BOB)
    assert not any(n.startswith("Shared Folders") for n in listed(b))
    r = f.cli("share", "example.test", "Sales", "authenticated", "lrsi")
    assert r.returncode == 0, r.stderr
    assert f.cli("share", "example.test", "Board", ALICE, "lrswipkxtea").returncode == 0
    assert f.cli("share", "example.test", "Sales", BOB, "lrz", check=False).returncode == 2
    assert f.cli("share", "example.test", "Nope", BOB, "lr", check=False).returncode == 1
    assert f.cli("share", "nobody@example.test", "INBOX", BOB, "lr",
                 check=False).returncode == 1
    out = f.cli("acl", "list").stdout.splitlines()
    assert "example.test Board alice@example.test lrswipkxtea" in out
    assert "example.test Sales authenticated lrsi" in out
    names = listed(b)
    assert "Shared Folders/example.test/Sales" in names
    assert "Shared Folders/example.test/Board" not in names
    # An alias to the folder's address delivers there (SMTP through the MX).
    assert f.cli("alias", "add", "sales@example.test", "sales-box@example.test").returncode == 0
    assert send_mx(f, make_message("lead", body="a lead\r\n", to="sales@example.test"),
                   rcpts=["sales@example.test"]) == {}
    assert send_mx(f, make_message("direct", to="sales-box@example.test"),
                   rcpts=["sales-box@example.test"]) == {}
    typ, data = b.select(q("Shared Folders/example.test/Sales"))
    assert typ == "OK" and data == [b"2"], data
    typ, data = b.fetch("1", "(BODY[TEXT])")
    assert data[0][1] == b"a lead\r\n"
    a = login(f, ALICE)
    typ, data = a.status(q("Shared Folders/example.test/Sales"), "(MESSAGES UNSEEN)")
    assert b"MESSAGES 2 UNSEEN 2" in data[0], data
    # alice administers Board over IMAP.
    typ, data = cmd(a, "GETACL", q("Shared Folders/example.test/Board"))
    assert data == [b'"Shared Folders/example.test/Board" alice@example.test lrswipkxtea']
    assert cmd(a, "SETACL", q("Shared Folders/example.test/Board"), BOB, "lr")[0] == "OK"
    assert "Shared Folders/example.test/Board" in listed(b)
    # The pseudo-owner is no user: no login, no mailbox of its own listed.
    assert not any(l.startswith("@") for l in f.cli("user", "list").stdout.splitlines())
    try:
        imaplib.IMAP4(HOST, f.ports["imap"]).login("@example.test", "!")
        raise AssertionError("logged in as the public pseudo-account")
    except imaplib.IMAP4.error:
        pass
    assert f.cli("public", "delete", "example.test", "Board").returncode == 0
    assert "Shared Folders/example.test/Board" not in listed(b)
    a.logout()
    b.logout()


def test_user_removal_drops_grants(facteur):
    f = facteur
    setup_users(f, ALICE, BOB)
    a = alice_team(f, messages=0)
    assert cmd(a, "SETACL", "Team", BOB, "lr")[0] == "OK"
    assert f.cli("share", ALICE, "INBOX", BOB, "lrs").returncode == 0
    assert len(f.cli("acl", "list").stdout.splitlines()) == 2
    assert f.cli("user", "remove", BOB).returncode == 0
    assert f.cli("acl", "list").stdout == ""
    # A new bob (maybe the same id) inherits nothing.
    setup_users(f, BOB)
    b = login(f, BOB)
    assert not any(n.startswith("Other Users") for n in listed(b))
    b.logout()
    assert cmd(a, "GETACL", "Team")[1] == [b"Team alice@example.test lrswipkxtea"]
    a.logout()


def test_mutt_reads_shared_folder(facteur, tmp_path):
    """mutt (a real client) opens alice's shared Team as bob and saves it."""
    assert MUTT and SCRIPT, "mutt or script is not installed (scripts/deps.sh test installs them)"
    f = facteur
    setup_users(f, ALICE, BOB)
    a = alice_team(f, messages=3)
    assert cmd(a, "SETACL", "Team", BOB, "lrs")[0] == "OK"
    tmp = str(tmp_path / "mutt")
    os.makedirs(tmp)
    out = os.path.join(tmp, "team.mbox")
    rc = os.path.join(tmp, "muttrc")
    with open(rc, "w") as fh:
        fh.write(f"""set ssl_ca_certificates_file="{f.cert}"
set certificate_file="{tmp}/certificates"
set imap_user="{BOB}"
set imap_pass="{PW}"
set folder="imaps://localhost:{f.ports['imaps']}/"
set header_cache=""
set message_cachedir=""
set mbox_type=mbox
set confirmappend=no
set confirmcreate=no
set move=no
set quit=yes
set wait_key=no
set beep=no
set mail_check=0
set timeout=1
set imap_delim_chars="/"
""")
    # The owner's address holds dots: mutt must not take them for delimiters.
    folder = "imaps://localhost:%d/%s" % (f.ports["imaps"], TEAM.replace(" ", "%20").replace("@", "%40"))
    keys = ("<tag-pattern>~A<enter><tag-prefix><copy-message>%s<enter>"
            "<tag-prefix><clear-flag>N<sync-mailbox><quit>" % out)
    command = [MUTT, "-n", "-F", rc, "-f", folder, "-e", 'push "%s"' % keys]
    env = dict(os.environ, TERM="xterm", HOME=tmp, LC_ALL="C.UTF-8")
    r = subprocess.run([SCRIPT, "-qec", shlex.join(command), "/dev/null"], env=env,
                       stdin=subprocess.DEVNULL, capture_output=True, timeout=90)
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-2000:]
    assert os.path.exists(out), r.stdout[-3000:]
    with open(out, "rb") as fh:
        mbox = fh.read()
    for i in range(3):
        assert b"Subject: team %d\n" % i in mbox
        assert b"\nteam body %d\n" % i in mbox
    # mutt marked them read: for bob only.
    b = login(f, BOB, TEAM)
    assert all("\\Seen" in fl for fl in uid_flags(b).values())
    assert a.select("Team")[0] == "OK"
    assert all("\\Seen" not in fl for fl in uid_flags(a).values())
    a.logout()
    b.logout()
