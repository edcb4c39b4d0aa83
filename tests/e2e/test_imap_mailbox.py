# SPDX-License-Identifier: MIT
"""Mailbox management over IMAP with Python's imaplib: CREATE (nested,
special-use), LIST with '*' and '%', LIST-EXTENDED and LIST-STATUS, the
special-use folders of a new account, RENAME (children, INBOX), DELETE,
SUBSCRIBE/LSUB, STATUS, NAMESPACE, non-ASCII names as mUTF-7 and as UTF-8
after ENABLE UTF8=ACCEPT, bad names refused, a pathological pattern
answered quickly over 200 mailboxes; then mbsync (isync) syncing several
folders both ways with a local Maildir."""
import imaplib
import os
import re
import shutil
import subprocess
import time

import pytest

from conftest import HOST, make_message, send_mx, wait_for


def imap_login(f, timeout=20):
    m = imaplib.IMAP4_SSL(HOST, f.ports["imaps"], ssl_context=f.tls_context(), timeout=timeout)
    typ, data = m.login(f.user, f.password)
    assert typ == "OK", data
    return m


def list_lines(m, *args, name="LIST"):
    """The untagged responses of a raw LIST/LSUB command, as bytes lines."""
    typ, data = m._simple_command(name, *args)
    assert typ == "OK", data
    _, lines = m._untagged_response(typ, data, name)
    return [l for l in lines if l is not None]


def parse_list(line):
    """(attributes, name) of one LIST response line (bytes)."""
    mo = re.match(rb'\(([^)]*)\) (?:"/"|NIL) (.*)$', line)
    assert mo, line
    attrs = set(mo.group(1).decode().split())
    name = mo.group(2)
    if name.startswith(b'"'):
        name = name[1:name.index(b'"', 1)]
    name = re.sub(rb' \("CHILDINFO".*$', b"", name)
    return attrs, name.decode()


def listing(m, *args, name="LIST"):
    return dict((n, a) for a, n in (parse_list(l) for l in list_lines(m, *args, name=name)))


def code(m, typ, data):
    return (typ, data[0].decode(errors="replace") if data and data[0] else "")


def test_new_account_special_use(facteur):
    m = imap_login(facteur)
    got = listing(m, '""', "*")
    expect = {"Drafts": "\\Drafts", "Sent": "\\Sent", "Trash": "\\Trash",
              "Junk": "\\Junk", "Archive": "\\Archive"}
    assert "INBOX" in got
    for name, attr in expect.items():
        assert attr in got[name], (name, got)
        assert "\\HasNoChildren" in got[name]
    # SPECIAL-USE selection option and return option (RFC 6154).
    sel = listing(m, "(SPECIAL-USE)", '""', "*", "RETURN", "(SPECIAL-USE)")
    assert set(sel) == set(expect)
    # LIST "" "" gives the delimiter.
    typ, data = m.list('""', '""')
    assert typ == "OK" and data == [b'(\\Noselect) "/" ""'], data
    typ, data = m.namespace()
    assert typ == "OK" and data == [b'(("" "/")) (("Other Users/" "/")) (("Shared Folders/" "/"))'], data
    m.logout()


def test_create_nested_and_patterns(facteur):
    m = imap_login(facteur)
    for name in ("Work/Projects/Alpha", "Work/Projects/Beta", "Work/Admin", "Home"):
        assert m.create(name)[0] == "OK"
    typ, data = m.create("Work/Admin")
    assert typ == "NO" and b"[ALREADYEXISTS]" in data[0], data
    got = listing(m, '""', "*")
    for name in ("Work", "Work/Projects", "Work/Projects/Alpha", "Work/Admin", "Home"):
        assert name in got, got
    assert "\\HasChildren" in got["Work"] and "\\HasChildren" in got["Work/Projects"]
    assert "\\HasNoChildren" in got["Work/Admin"]
    top = listing(m, '""', "%")
    assert "Work" in top and "Home" in top and not any("/" in n for n in top)
    assert set(listing(m, '""', "Work/%")) == {"Work/Projects", "Work/Admin"}
    assert set(listing(m, "Work/Projects/", "*")) == {"Work/Projects/Alpha",
                                                       "Work/Projects/Beta"}
    assert set(listing(m, '""', "*/Alpha")) == {"Work/Projects/Alpha"}
    # Several patterns at once (LIST-EXTENDED).
    assert set(listing(m, '""', '(Home "Work/Projects/%")')) == {
        "Home", "Work/Projects/Alpha", "Work/Projects/Beta"}
    m.logout()


def test_list_extended_and_status(facteur):
    for i in range(3):
        assert send_mx(facteur, make_message("list-status %d" % i)) == {}
    m = imap_login(facteur)
    wait_for(lambda: m.status("INBOX", "(MESSAGES)")[1][0].endswith(b"(MESSAGES 3)"))
    assert m.create("Lists/Dev")[0] == "OK"
    # CREATE subscribes nothing (RFC 9051 6.3.4): only SUBSCRIBE does.
    assert "Lists/Dev" not in listing(m, "(SUBSCRIBED)", '""', "*")
    assert m.subscribe("Lists/Dev")[0] == "OK"
    assert m.unsubscribe("Lists")[0] == "OK"
    assert m.subscribe("Gone/Away")[0] == "OK"

    sub = listing(m, "(SUBSCRIBED)", '""', "*")
    assert "\\Subscribed" in sub["Lists/Dev"] and "Lists" not in sub
    assert "\\NonExistent" in sub["Gone/Away"]
    lines = list_lines(m, "(SUBSCRIBED RECURSIVEMATCH)", '""', "%", "RETURN", "(CHILDREN)")
    assert any(l.startswith(b'(\\HasChildren) "/" Lists ("CHILDINFO" ("SUBSCRIBED"))')
               for l in lines), lines
    ret = listing(m, '""', "Lists*", "RETURN", "(SUBSCRIBED CHILDREN)")
    assert "\\Subscribed" not in ret["Lists"] and "\\Subscribed" in ret["Lists/Dev"]
    with pytest.raises(imaplib.IMAP4.error):
        m._simple_command("LIST", "(RECURSIVEMATCH)", '""', "*")
    with pytest.raises(imaplib.IMAP4.error):
        m._simple_command("LIST", '""', "*", "RETURN", "(NOPE)")

    # LIST-STATUS (RFC 5819): a STATUS after each selectable mailbox.
    typ, data = m._simple_command("LIST", '""', "*", "RETURN", "(STATUS (MESSAGES UNSEEN))")
    assert typ == "OK"
    statuses = m.untagged_responses.pop("STATUS", [])
    m.untagged_responses.pop("LIST", None)
    assert b"INBOX (MESSAGES 3 UNSEEN 3)" in statuses, statuses
    assert b"Lists/Dev (MESSAGES 0 UNSEEN 0)" in statuses
    assert not any(s.startswith(b"Gone") for s in statuses)

    # STATUS with every item.
    typ, data = m.status("INBOX", "(MESSAGES UIDNEXT UIDVALIDITY UNSEEN DELETED SIZE RECENT "
                                  "HIGHESTMODSEQ APPENDLIMIT MAILBOXID)")
    assert typ == "OK"
    s = data[0].decode()
    # RECENT 3: no session has selected INBOX yet (\Recent, RFC 3501).
    for item in ("MESSAGES 3", "UIDNEXT 4", "UNSEEN 3", "DELETED 0", "RECENT 3"):
        assert item in s, s
    assert re.search(r"UIDVALIDITY \d+", s) and re.search(r"SIZE [1-9]\d*", s)
    assert re.search(r"HIGHESTMODSEQ \d+", s) and re.search(r"APPENDLIMIT \d+", s)
    assert re.search(r"MAILBOXID \(M\d+\)", s)
    typ, data = m.status("Nope", "(MESSAGES)")
    assert typ == "NO" and b"[NONEXISTENT]" in data[0]
    with pytest.raises(imaplib.IMAP4.error):
        m.status("INBOX", "(BOGUS)")
    m.logout()


def test_rename_delete_subscribe(facteur):
    m = imap_login(facteur)
    assert m.create("Old/Kid/Grandkid")[0] == "OK"
    assert m.rename("Old", "New")[0] == "OK"
    got = listing(m, '""', "*")
    assert "Old" not in got and "Old/Kid" not in got
    assert {"New", "New/Kid", "New/Kid/Grandkid"} <= set(got)
    typ, data = m.rename("Nope", "X")
    assert typ == "NO" and b"[NONEXISTENT]" in data[0]
    typ, data = m.rename("New", "Sent")
    assert typ == "NO" and b"[ALREADYEXISTS]" in data[0]

    # Renaming INBOX moves its messages; INBOX stays, empty.
    for i in range(2):
        assert send_mx(facteur, make_message("rename-inbox %d" % i)) == {}
    wait_for(lambda: m.status("INBOX", "(MESSAGES)")[1][0].endswith(b"(MESSAGES 2)"))
    assert m.rename("INBOX", "Saved")[0] == "OK"
    assert m.status("Saved", "(MESSAGES)")[1][0].endswith(b"(MESSAGES 2)")
    assert m.status("INBOX", "(MESSAGES)")[1][0].endswith(b"(MESSAGES 0)")
    assert "INBOX" in listing(m, '""', "*")

    # DELETE: INBOX refused; a missing name; a parent keeps its children.
    typ, data = m.delete("INBOX")
    assert typ == "NO"
    typ, data = m.delete("Does/Not/Exist")
    assert typ == "NO" and b"[NONEXISTENT]" in data[0], data
    assert m.delete("New")[0] == "OK"
    got = listing(m, '""', "*")
    assert "\\Noselect" in got["New"] and "New/Kid" in got
    typ, data = m.delete("New")
    assert typ == "NO" and b"[HASCHILDREN]" in data[0], data
    assert m.delete("New/Kid/Grandkid")[0] == "OK"
    assert m.delete("New/Kid")[0] == "OK"
    assert "New" not in listing(m, '""', "*")

    # SUBSCRIBE / UNSUBSCRIBE / LSUB.
    assert m.create("Lists/Dev")[0] == "OK"
    typ, data = m.lsub('""', "Lists*")
    assert data == [None], data  # CREATE does not subscribe
    assert m.subscribe("Lists/Dev")[0] == "OK"
    assert m.unsubscribe("Lists")[0] == "OK"
    typ, data = m.lsub('""', "*")
    names = {parse_list(l)[1] for l in data}
    assert "Lists/Dev" in names and "Lists" not in names
    typ, data = m.lsub('""', "%")
    lsub = dict((n, a) for a, n in (parse_list(l) for l in data))
    assert "\\Noselect" in lsub["Lists"]
    assert m.unsubscribe("Lists/Dev")[0] == "OK"
    typ, data = m.lsub('""', "Lists*")
    assert data == [None], data
    m.logout()


def test_non_ascii_names(facteur):
    m = imap_login(facteur)
    # "Entwürfe/Übersicht" in modified UTF-7 from a rev1 client.
    assert m.create("Entw&APw-rfe/&ANw-bersicht")[0] == "OK"
    names = set(listing(m, '""', "Entw*"))
    assert names == {"Entw&APw-rfe", "Entw&APw-rfe/&ANw-bersicht"}, names
    assert m.create('"Caf&AOk- & Co"')[0] == "NO"  # a bare "&" is not mUTF-7
    assert m.create('"Caf&AOk- &- Co"')[0] == "OK"
    assert "Caf&AOk- &- Co" in listing(m, '""', "Caf*")
    m.logout()

    # The same names as UTF-8 after ENABLE UTF8=ACCEPT.
    m = imap_login(facteur)
    typ, data = m.enable("UTF8=ACCEPT")
    assert typ == "OK", data
    typ, data = m.list('""', '"Entw*"')
    assert typ == "OK"
    names = {parse_list(l)[1] for l in data}
    assert names == {"Entwürfe", "Entwürfe/Übersicht"}, data
    assert m.create('"日本語/メール"')[0] == "OK"
    typ, data = m.list('""', '"日本語*"')
    assert {parse_list(l)[1] for l in data} == {"日本語", "日本語/メール"}
    typ, data = m.status('"日本語/メール"', "(MESSAGES)")
    assert typ == "OK" and "MESSAGES 0" in data[0].decode()
    assert m.rename('"日本語/メール"', '"日本語/Post"')[0] == "OK"
    m.logout()

    # And back as mUTF-7 to a rev1 client.
    m = imap_login(facteur)
    names = set(listing(m, '""', "*"))
    assert "&ZeVnLIqe-/Post" in names, names
    m.logout()


BAD_NAMES = ["..", "a/../b", "../x", "a/./b", '"&AC4ALg-"', '"a/&AC4ALg-/b"', '""', "a//b",
             "/abs", "a*b", '"a%b"', '"&AAE-"', '"&Jjo"']


def test_bad_names_refused(facteur):
    m = imap_login(facteur)
    before = set(listing(m, '""', "*"))
    for name in BAD_NAMES:
        try:
            typ, data = m.create(name)
        except imaplib.IMAP4.error:
            continue  # BAD is fine too
        assert typ == "NO", (name, data)
    # A control character, as a literal.
    m.literal = b"a\x01b"
    try:
        typ, data = m._simple_command("CREATE")
        assert typ == "NO", data
    except imaplib.IMAP4.error:
        pass
    assert set(listing(m, '""', "*")) == before
    for name in ("..", "a/../b"):
        assert m.delete(name)[0] == "NO"
        assert m.rename("Sent", name)[0] == "NO"
        assert m.status(name, "(MESSAGES)")[0] == "NO"
    m.logout()
    m = imap_login(facteur)
    assert m.enable("UTF8=ACCEPT")[0] == "OK"
    for name in ('"a/../b"', '"x\u0085y"', '"x\u0007y"'):
        try:
            assert m.create(name)[0] == "NO", name
        except imaplib.IMAP4.error:
            pass
    m.logout()


def test_pathological_pattern_is_fast(facteur):
    m = imap_login(facteur)
    # Pipelined with LITERAL+ would be faster; 200 CREATEs are quick anyway.
    for i in range(200):
        assert m.create("bulk%03d/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaa/bbbbbbbbbbbbbbbbbbbbbbbbbbb" % i)[0] == "OK"
    pattern = '"' + "*%" * 15 + 'x"'
    t0 = time.monotonic()
    typ, data = m.list('""', pattern)
    dt = time.monotonic() - t0
    assert typ == "OK"
    assert dt < 1.0, dt
    # Only INBOX: its "X" matches 'x' because INBOX is case-insensitive.
    assert {parse_list(l)[1] for l in data} == {"INBOX"}, data
    t0 = time.monotonic()
    typ, data = m.list('""', '"' + "%*" * 200 + 'b"')
    assert typ == "OK" and len(data) == 200
    assert time.monotonic() - t0 < 1.0
    m.logout()


# --- mbsync -------------------------------------------------------------------

def maildir_messages(path):
    out = []
    for sub in ("cur", "new"):
        d = os.path.join(path, sub)
        if os.path.isdir(d):
            out += [os.path.join(d, n) for n in os.listdir(d)]
    return out


def write_maildir_message(folder, name, data, flags=""):
    for sub in ("cur", "new", "tmp"):
        os.makedirs(os.path.join(folder, sub), exist_ok=True)
    path = os.path.join(folder, "cur", "%s:2,%s" % (name, flags))
    with open(path, "wb") as fh:
        fh.write(data)
    return path


def run_mbsync(rc):
    p = subprocess.run(["mbsync", "-c", rc, "-a"], capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, "mbsync failed:\n%s\n%s" % (p.stdout, p.stderr)
    return p


def imap_count(m, mailbox):
    typ, data = m.status(mailbox, "(MESSAGES)")
    assert typ == "OK", (mailbox, data)
    return int(re.search(rb"MESSAGES (\d+)", data[0]).group(1))


def test_mbsync_both_ways(facteur, tmp_path):
    assert shutil.which("mbsync"), "mbsync is not installed (scripts/deps.sh test installs isync)"
    for i in range(2):
        assert send_mx(facteur, make_message("mbsync inbox %d" % i)) == {}
    m = imap_login(facteur)
    wait_for(lambda: imap_count(m, "INBOX") == 2)
    assert m.create("Projects/Alpha")[0] == "OK"
    typ, data = m.append("Projects/Alpha", "(\\Seen)", None,
                         make_message("alpha one", sender="me@example.test"))
    assert typ == "OK", data
    m.logout()

    local = tmp_path / "mail"
    local.mkdir()
    rc = tmp_path / "mbsyncrc"
    rc.write_text(f"""IMAPAccount facteur
Host 127.0.0.1
Port {facteur.ports["imaps"]}
User {facteur.user}
Pass {facteur.password}
SSLType IMAPS
CertificateFile {facteur.cert}
AuthMechs LOGIN PLAIN

IMAPStore remote
Account facteur

MaildirStore local
Path {local}/
Inbox {local}/INBOX
SubFolders Verbatim

Channel sync
Far :remote:
Near :local:
Patterns *
Create Both
Expunge Both
SyncState *
""")
    run_mbsync(str(rc))
    assert len(maildir_messages(local / "INBOX")) == 2
    assert len(maildir_messages(local / "Projects" / "Alpha")) == 1
    for name in ("Sent", "Drafts", "Trash", "Junk", "Archive"):
        assert (local / name / "cur").is_dir(), name

    # Local changes: a new folder with a message, a new INBOX message, a
    # message marked seen, and one deleted locally.
    write_maildir_message(str(local / "Local"), "%d.1.host" % time.time(),
                          make_message("made locally"))
    write_maildir_message(str(local / "INBOX"), "%d.2.host" % time.time(),
                          make_message("new in local inbox"), "S")
    alpha = maildir_messages(local / "Projects" / "Alpha")[0]
    os.unlink(alpha)
    inbox_files = sorted(maildir_messages(local / "INBOX"))
    first = [p for p in inbox_files if ":2," in p and "S" not in p.rsplit(":2,", 1)[1]][0]
    base, flags = first.rsplit(":2,", 1)
    os.rename(first, os.path.join(os.path.dirname(base).replace("/new", "/cur"),
                                  os.path.basename(base)) + ":2," + "".join(sorted(flags + "F")))
    run_mbsync(str(rc))

    m = imap_login(facteur)
    assert imap_count(m, "Local") == 1
    assert imap_count(m, "INBOX") == 3
    assert imap_count(m, "Projects/Alpha") == 0
    m.select("INBOX")
    typ, data = m.search(None, "FLAGGED")
    assert typ == "OK" and len(data[0].split()) == 1, data
    # Server changes flow back: a new folder, a message deleted.
    assert m.create("FromServer")[0] == "OK"
    assert m.append("FromServer", None, None, make_message("server side"))[0] == "OK"
    typ, data = m.search(None, "FLAGGED")
    m.store(data[0].split()[0], "+FLAGS", "\\Deleted")
    m.expunge()
    m.logout()
    run_mbsync(str(rc))
    assert len(maildir_messages(local / "FromServer")) == 1
    assert len(maildir_messages(local / "INBOX")) == 2
    assert len(maildir_messages(local / "Local")) == 1
