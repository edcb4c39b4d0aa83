# SPDX-License-Identifier: MIT
"""Sieve at delivery, end to end with one server for the module: scripts
stored with `facteur sieve` (an invalid one refused with line:column),
mail sent with smtplib to the MX listener, the outcome read with imaplib
(fileinto with imap4flags, fileinto of a missing mailbox kept in INBOX,
discard, implicit keep, envelope :detail of the RCPT TO) and with `facteur queue` (redirect with its hop
header, one vacation reply per sender with Auto-Submitted, none to a
list; a redirect to a local user delivered to that user), and reject
refused at SMTP time with 550."""
import glob
import imaplib
import os
import re
import smtplib

import pytest

from conftest import HOST, Facteur, assert_clean_logs, make_message, send_mx

SCRIPT = r"""require ["fileinto", "imap4flags", "vacation", "reject", "copy", "envelope",
         "subaddress"];
if envelope :detail "to" "news" { fileinto "Junk"; stop; }
# in the style of RFC 5228 section 9
if header :contains "subject" "tofile" {
    fileinto :flags ["\\Flagged", "$Work"] "Archive";
    stop;
}
if header :contains "subject" "todiscard" { discard; stop; }
if header :contains "subject" "tonowhere" { fileinto "Does/Not/Exist"; stop; }
if header :contains "subject" "toredirect" {
    redirect :copy "elsewhere@remote.example";
    stop;
}
if header :contains "subject" "tolocal" { redirect "other@example.test"; stop; }
if header :contains "subject" "toreject" { reject "We do not want this."; stop; }
if header :contains "subject" "away" {
    addflag "\\Seen";
    vacation :days 1 :subject "Out of office" "I am away until Monday.";
}
"""


@pytest.fixture(scope="module")
def f(tmp_path_factory):
    fac = Facteur(tmp_path_factory.mktemp("sieve") / "facteur").start()
    yield fac
    assert fac.stop() == 0, fac.logs()[-5000:]
    assert_clean_logs(fac)


def imap(f, user=None, password=None):
    m = imaplib.IMAP4(HOST, f.ports["imap"], timeout=10)
    m.login(user or f.user, password or f.password)
    return m


def subjects_and_flags(m, mailbox):
    """{subject: flags string} of a mailbox."""
    typ, _ = m.select(mailbox, readonly=True)
    assert typ == "OK"
    typ, data = m.fetch("1:*", "(FLAGS BODY.PEEK[HEADER.FIELDS (SUBJECT)])")
    out = {}
    if data == [None]:
        return out
    for item in data:
        if isinstance(item, tuple):
            flags = re.search(rb"FLAGS \(([^)]*)\)", item[0]).group(1).decode()
            subj = item[1].decode().split(":", 1)[1].strip()
            out[subj] = flags
    return out


def queue(f):
    return f.cli("queue", "list").stdout


def queued_blob(f, recipient):
    """The bytes of the queued message for recipient."""
    line = [l for l in queue(f).splitlines() if "<%s>" % recipient in l][-1]
    qid = line.split()[0]
    blob = re.search(r"blob: (\S+)", f.cli("queue", "show", qid).stdout).group(1)
    path = glob.glob(os.path.join(f.dir, "data", "blobs", "*", blob))[0]
    return open(path, "rb").read()


def test_cli_scripts(f, tmp_path):
    bad = tmp_path / "bad.sieve"
    bad.write_text('require "fileinto";\nif header :is "a" {\n  keep;\n}\n')
    r = f.cli("sieve", "put", f.user, "bad", str(bad), check=False)
    assert r.returncode == 1 and "2:4: wrong number of arguments" in r.stderr
    r = f.cli("sieve", "put", "nobody@example.test", "x", str(bad), check=False)
    assert r.returncode == 1 and "no such user" in r.stderr
    good = tmp_path / "main.sieve"
    good.write_text(SCRIPT)
    f.cli("sieve", "put", f.user, "main", str(good))
    f.cli("sieve", "put", f.user, "spare", "-", input="keep;\n")
    assert f.cli("sieve", "list", f.user).stdout == "main\nspare\n"
    assert f.cli("sieve", "get", f.user, "main").stdout == SCRIPT
    r = f.cli("sieve", "activate", f.user, "nosuch", check=False)
    assert r.returncode == 1 and "no such script" in r.stderr
    f.cli("sieve", "activate", f.user, "spare")
    f.cli("sieve", "activate", f.user, "main")
    assert f.cli("sieve", "list", f.user).stdout == "main ACTIVE\nspare\n"
    r = f.cli("sieve", "delete", f.user, "main", check=False)
    assert r.returncode == 1 and "active" in r.stderr
    f.cli("sieve", "rename", f.user, "spare", "extra")
    r = f.cli("sieve", "rename", f.user, "extra", "main", check=False)
    assert r.returncode == 1 and "exists" in r.stderr
    r = f.cli("sieve", "get", f.user, "spare", check=False)
    assert r.returncode == 1 and "no such script" in r.stderr
    f.cli("sieve", "delete", f.user, "extra")
    assert f.cli("sieve", "list", f.user).stdout == "main ACTIVE\n"
    assert f.cli("sieve", "check", str(good)).returncode == 0


def test_delivery(f):
    for subj in ("tofile one", "todiscard two", "tonowhere three", "plain four",
                 "toredirect five"):
        assert send_mx(f, make_message(subj)) == {}
    assert send_mx(f, make_message("detail ten"), rcpts=("demo+news@example.test",)) == {}
    f.add_user("other@example.test", "other-secret-1")
    assert send_mx(f, make_message("tolocal eleven")) == {}
    m = imap(f)
    inbox = subjects_and_flags(m, "INBOX")
    archive = subjects_and_flags(m, "Archive")
    m.logout()
    assert "tofile one" in archive and "tofile one" not in inbox
    assert set(archive["tofile one"].split()) - {"\\Recent"} == {"\\Flagged", "$Work"}
    assert "todiscard two" not in inbox and "todiscard two" not in archive
    assert "tonowhere three" in inbox  # no such mailbox: kept
    assert "plain four" in inbox  # implicit keep
    assert "toredirect five" in inbox  # :copy keeps it too
    m = imap(f)
    junk = subjects_and_flags(m, "Junk")
    m.logout()
    assert "detail ten" in junk and "detail ten" not in inbox  # envelope :detail
    # A redirect to a local user lands in that user's INBOX, not the queue.
    assert "tolocal eleven" not in inbox and "other@example.test" not in queue(f)
    o = imap(f, "other@example.test", "other-secret-1")
    o.select("INBOX", readonly=True)
    typ, data = o.fetch("1", "(BODY.PEEK[HEADER])")
    o.logout()
    hdr = data[0][1]
    assert hdr.startswith(b"Return-Path: <sender@example.org>\r\n")
    assert b"X-Sieve-Redirected-By: demo@example.test\r\n" in hdr
    assert b"Subject: tolocal eleven" in hdr
    data = queued_blob(f, "elsewhere@remote.example")
    assert data.startswith(b"X-Sieve-Redirected-By: demo@example.test\r\n")
    assert b"Subject: toredirect five" in data
    # Redirected off the server: the envelope sender is our SRS address.
    assert re.search(r"<SRS0=[^=]{4}=[A-Z2-7]{2}=example\.org=sender@mx\.example\.test> "
                     r"-> <elsewhere@remote\.example>", queue(f)), queue(f)


def test_reject(f):
    with pytest.raises(smtplib.SMTPDataError) as e:
        send_mx(f, make_message("toreject six"))
    assert e.value.smtp_code == 550 and b"We do not want this." in e.value.smtp_error


def test_vacation(f):
    assert send_mx(f, make_message("away seven")) == {}
    assert send_mx(f, make_message("away eight")) == {}  # same sender: no second reply
    lst = make_message("away nine", sender="list@lists.example",
                       extra_headers="List-Id: <x.lists.example>\r\n")
    assert send_mx(f, lst, sender="list@lists.example") == {}
    replies = [l for l in queue(f).splitlines() if "<> -> <sender@example.org>" in l]
    assert len(replies) == 1
    assert "lists.example" not in queue(f)
    data = queued_blob(f, "sender@example.org")
    assert b"\r\nAuto-Submitted: auto-replied\r\n" in data
    assert b"\r\nSubject: Out of office\r\n" in data
    assert b"I am away until Monday." in data
    m = imap(f)
    inbox = subjects_and_flags(m, "INBOX")
    m.logout()
    assert "\\Seen" in inbox["away seven"].split()
    # A local sender gets the reply in its INBOX (from <>), not via the queue.
    local = make_message("away twelve", sender="other@example.test")
    assert send_mx(f, local, sender="other@example.test") == {}
    assert "other@example.test" not in queue(f)
    o = imap(f, "other@example.test", "other-secret-1")
    o.select("INBOX", readonly=True)
    typ, data = o.search(None, "HEADER", "Auto-Submitted", "auto-replied")
    assert len(data[0].split()) == 1
    typ, data = o.fetch(data[0].split()[0], "(BODY.PEEK[HEADER])")
    o.logout()
    assert data[0][1].startswith(b"Return-Path: <>\r\n")
    assert b"Subject: Out of office" in data[0][1]
