# SPDX-License-Identifier: MIT
"""Real IMAP clients nobody here wrote, against facteur over implicit TLS:
offlineimap3 syncing both ways with a local Maildir (messages, folders,
flags, deletions, a folder created locally, a second sync that changes
nothing), mutt in batch mode (its keys pushed with -e under `script` for a
terminal: copy every message of INBOX to a local mbox, save one to
=Archive, which is COPY/MOVE plus EXPUNGE over IMAP), and POP3 and IMAP on
the same account at once (an IMAP expunge under a POP3 snapshot, POP3
DELE seen by IMAP as EXPUNGE). The clients verify the certificate against
the instance's own self-signed one, by the name localhost."""
import email
import imaplib
import os
import re
import shlex
import shutil
import subprocess
import time

import pytest

from conftest import HOST, make_message, pop3_client, send_mx

OFFLINEIMAP = shutil.which("offlineimap")
MUTT = shutil.which("mutt")
SCRIPT = shutil.which("script")


def imap_login(f, select=None):
    m = imaplib.IMAP4_SSL(HOST, f.ports["imaps"], ssl_context=f.tls_context(), timeout=20)
    assert m.login(f.user, f.password)[0] == "OK"
    if select:
        assert m.select(select)[0] == "OK"
    return m


def subjects_flags(m, mailbox):
    """{subject: set of flags} of a mailbox, read with imaplib."""
    typ, data = m.select(mailbox)
    assert typ == "OK", data
    if int(data[0]) == 0:
        return {}
    typ, data = m.fetch("1:*", "(FLAGS BODY.PEEK[HEADER.FIELDS (SUBJECT)])")
    assert typ == "OK"
    out = {}
    for item in data:
        if not isinstance(item, tuple):
            continue
        flags = set(re.search(rb"FLAGS \(([^)]*)\)", item[0]).group(1).decode().split())
        subject = item[1].decode().split(":", 1)[1].strip()
        out[subject] = flags
    return out


# --- offlineimap3 ------------------------------------------------------------

def maildir_messages(folder):
    """{subject: maildir info flags} of the messages in a local Maildir folder."""
    out = {}
    for sub in ("new", "cur"):
        path = os.path.join(folder, sub)
        if not os.path.isdir(path):
            continue
        for name in os.listdir(path):
            with open(os.path.join(path, name), "rb") as fh:
                msg = email.message_from_binary_file(fh)
            info = name.rsplit(":2,", 1)[1] if ":2," in name else ""
            out[msg["Subject"]] = info
    return out


def maildir_file(folder, subject):
    for sub in ("new", "cur"):
        for name in os.listdir(os.path.join(folder, sub)):
            path = os.path.join(folder, sub, name)
            with open(path, "rb") as fh:
                if email.message_from_binary_file(fh)["Subject"] == subject:
                    return path
    raise AssertionError("no local message " + subject)


class OfflineImap:
    def __init__(self, f, tmp):
        os.makedirs(tmp)
        self.mail = os.path.join(tmp, "mail")
        self.conf = os.path.join(tmp, "offlineimap.conf")
        with open(self.conf, "w") as fh:
            fh.write(f"""[general]
accounts = test
metadata = {tmp}/metadata
ui = basic

[Account test]
localrepository = local
remoterepository = remote

[Repository local]
type = Maildir
localfolders = {self.mail}

[Repository remote]
type = IMAP
remotehost = localhost
remoteport = {f.ports['imaps']}
ssl = yes
sslcacertfile = {f.cert}
remoteuser = {f.user}
remotepass = {f.password}
maxconnections = 2
""")

    def sync(self):
        try:
            r = subprocess.run([OFFLINEIMAP, "-c", self.conf, "-o", "-u", "basic"],
                               capture_output=True, text=True, timeout=120)
        except subprocess.TimeoutExpired as e:
            raise AssertionError("offlineimap hung:\n%s\n%s" % (e.stdout, e.stderr))
        out = r.stdout + r.stderr
        assert r.returncode == 0, out
        assert "ERROR" not in out, out
        return out


def test_offlineimap_two_way_sync(facteur, tmp_path):
    assert OFFLINEIMAP, "offlineimap3 is not installed (scripts/deps.sh test installs it)"
    f = facteur
    for i in range(3):
        assert send_mx(f, make_message("inbox %d" % i, body="body %d\r\n" % i)) == {}
    m = imap_login(f)
    assert m.create("Projects/2024")[0] == "OK"
    assert m.append("Projects/2024", "(\\Flagged)", None,
                    make_message("in projects", body="project body\r\n"))[0] == "OK"
    m.logout()

    oi = OfflineImap(f, str(tmp_path / "oi"))
    oi.sync()
    inbox = os.path.join(oi.mail, "INBOX")
    projects = os.path.join(oi.mail, "Projects.2024")
    assert set(maildir_messages(inbox)) == {"inbox 0", "inbox 1", "inbox 2"}
    assert maildir_messages(projects) == {"in projects": "F"}
    for name in ("Archive", "Drafts", "Sent", "Trash", "Junk", "Projects"):
        assert os.path.isdir(os.path.join(oi.mail, name, "cur")), name
    with open(maildir_file(inbox, "inbox 1"), "rb") as fh:
        assert b"body 1" in fh.read()
    with open(maildir_file(projects, "in projects"), "rb") as fh:
        assert b"project body" in fh.read()

    # Local changes: a flag, a deletion, a new message, a new folder.
    seen = maildir_file(inbox, "inbox 0")
    os.rename(seen, os.path.join(inbox, "cur", os.path.basename(seen).rsplit(":2,", 1)[0]
                                 + ":2,RS"))
    os.unlink(maildir_file(inbox, "inbox 2"))
    with open(os.path.join(oi.mail, "Projects", "new", "%d.local.test" % time.time_ns()),
              "wb") as fh:
        fh.write(make_message("written locally", body="local body\r\n").replace(b"\r\n", b"\n"))
    newdir = os.path.join(oi.mail, "Notes")
    for sub in ("cur", "new", "tmp"):
        os.makedirs(os.path.join(newdir, sub))
    with open(os.path.join(newdir, "cur", "%d.local.test:2,S" % time.time_ns()), "wb") as fh:
        fh.write(make_message("note", body="a note\r\n").replace(b"\r\n", b"\n"))
    oi.sync()

    m = imap_login(f)
    inbox_now = subjects_flags(m, "INBOX")
    assert set(inbox_now) == {"inbox 0", "inbox 1"}
    assert {"\\Seen", "\\Answered"} <= inbox_now["inbox 0"]
    assert "\\Seen" not in inbox_now["inbox 1"]
    assert set(subjects_flags(m, "Projects")) == {"written locally"}
    typ, data = m.fetch("1", "(BODY[TEXT])")
    assert typ == "OK" and data[0][1].rstrip() == b"local body"
    assert subjects_flags(m, "Notes") == {"note": {"\\Seen"}}
    assert subjects_flags(m, "Projects/2024") == {"in projects": {"\\Flagged"}}

    # A server-side change comes down; then a sync with nothing to do
    # changes nothing on either side.
    m.select("Projects/2024")
    assert m.store("1", "+FLAGS", "(\\Seen)")[0] == "OK"
    m.logout()
    oi.sync()
    assert maildir_messages(projects) == {"in projects": "FS"}
    before = {d: sorted(os.listdir(os.path.join(oi.mail, d, s)))
              for d in os.listdir(oi.mail) for s in ("cur", "new")}
    oi.sync()
    after = {d: sorted(os.listdir(os.path.join(oi.mail, d, s)))
             for d in os.listdir(oi.mail) for s in ("cur", "new")}
    assert before == after
    m = imap_login(f)
    assert set(subjects_flags(m, "INBOX")) == {"inbox 0", "inbox 1"}
    assert len(subjects_flags(m, "Projects")) == 1
    m.logout()


# --- mutt ---------------------------------------------------------------------

def run_mutt(f, tmp, keys):
    """mutt on INBOX over imaps with keys pushed, under `script` for a pty."""
    rc = os.path.join(tmp, "muttrc")
    with open(rc, "w") as fh:
        fh.write(f"""set ssl_ca_certificates_file="{f.cert}"
set certificate_file="{tmp}/certificates"
set imap_user="{f.user}"
set imap_pass="{f.password}"
set folder="imaps://localhost:{f.ports['imaps']}/"
set spoolfile="+INBOX"
set header_cache=""
set message_cachedir=""
set mbox_type=mbox
set confirmappend=no
set confirmcreate=no
set move=no
set delete=yes
set quit=yes
set wait_key=no
set beep=no
set mail_check=0
set timeout=1
""")
    cmd = [MUTT, "-n", "-F", rc, "-f", f"imaps://localhost:{f.ports['imaps']}/INBOX",
           "-e", 'push "%s"' % keys]
    env = dict(os.environ, TERM="xterm", HOME=tmp, LC_ALL="C.UTF-8")
    r = subprocess.run([SCRIPT, "-qec", shlex.join(cmd), "/dev/null"], env=env,
                       stdin=subprocess.DEVNULL, capture_output=True, timeout=90)
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-2000:]
    return r


def test_mutt_batch(facteur, tmp_path):
    assert MUTT and SCRIPT, "mutt or script is not installed (scripts/deps.sh test installs them)"
    f = facteur
    for i in range(3):
        assert send_mx(f, make_message("mutt %d" % i, body="mutt body %d\r\n" % i)) == {}
    tmp = str(tmp_path / "mutt")
    os.makedirs(tmp)
    out = os.path.join(tmp, "all.mbox")
    keys = ("<tag-pattern>~A<enter><tag-prefix><copy-message>%s<enter>"
            "<untag-pattern>~A<enter>"
            "<tag-pattern>~s \\\"mutt 1\\\"<enter><tag-prefix><save-message>=Archive<enter>"
            "<sync-mailbox><quit>" % out)
    run_mutt(f, tmp, keys)

    # Every message of INBOX reached the local mbox, bodies intact.
    with open(out, "rb") as fh:
        mbox = fh.read()
    assert mbox.startswith(b"From ")
    for i in range(3):
        assert b"Subject: mutt %d\n" % i in mbox
        assert b"\nmutt body %d\n" % i in mbox
    assert len(re.findall(rb"^From ", mbox, re.M)) == 3

    # The saved message moved to Archive; INBOX lost it.
    m = imap_login(f)
    assert set(subjects_flags(m, "Archive")) == {"mutt 1"}
    inbox = subjects_flags(m, "INBOX")
    assert set(inbox) == {"mutt 0", "mutt 2"}
    assert all("\\Deleted" not in fl for fl in inbox.values())
    m.logout()


# --- POP3 and IMAP on one account at once ---------------------------------------

def test_pop3_imap_consistency(facteur):
    f = facteur
    for i in range(4):
        assert send_mx(f, make_message("both %d" % i, body="both body %d\r\n" % i)) == {}
    p = pop3_client(f, mode="tls")
    assert p.stat()[0] == 4
    m = imap_login(f, select="INBOX")

    # IMAP expunges message 2 while POP3 holds its snapshot of four.
    assert m.store("2", "+FLAGS", "(\\Deleted)")[0] == "OK"
    assert m.expunge()[0] == "OK"
    assert p.stat()[0] == 4  # the snapshot does not change mid-session
    # Its content stays readable for a while (the store's blob grace), so
    # the snapshot can still be read whole.
    _, lines, _ = p.retr(2)
    assert b"Subject: both 1" in lines
    _, lines, _ = p.retr(3)
    assert b"Subject: both 2" in lines
    assert p.noop().startswith(b"+OK")

    # POP3 deletes message 1 (both 0) and commits at QUIT.
    assert p.dele(1).startswith(b"+OK")
    assert p.quit().startswith(b"+OK")
    typ, data = m.noop()
    assert typ == "OK"
    assert m.untagged_responses.get("EXPUNGE") == [b"1"], m.untagged_responses
    m.untagged_responses.clear()
    typ, data = m.fetch("1:*", "(BODY.PEEK[HEADER.FIELDS (SUBJECT)])")
    subjects = [item[1].strip() for item in data if isinstance(item, tuple)]
    assert subjects == [b"Subject: both 2", b"Subject: both 3"]

    # A new POP3 session sees the same two messages; new mail shows in both.
    assert send_mx(f, make_message("both 4")) == {}
    p = pop3_client(f, mode="tls")
    assert p.stat()[0] == 3
    assert [l.split()[1] for l in p.uidl()[1]] != []
    p.quit()
    typ, _ = m.noop()
    assert typ == "OK" and m.untagged_responses.get("EXISTS") == [b"3"]
    m.logout()
    # Nothing crashed: both listeners still answer.
    p = pop3_client(f, mode="tls")
    assert p.stat()[0] == 3
    p.quit()
