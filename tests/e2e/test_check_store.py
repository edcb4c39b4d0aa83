# SPDX-License-Identifier: MIT
"""Orphan blobs and `facteur check-store` (issue 9 item 13). A crash
between a blob's write and the commit naming it leaves a file no row
refers to: the daemon removes such files when it starts, and check-store
reports them (and, with --repair, removes them) together with damage made
on purpose: a blob changed on disk, UIDNEXT below a message's UID. The exit
status says whether problems are left."""
import hashlib
import imaplib
import os
import sqlite3

from conftest import HOST, make_message, send_mx, wait_for

ORPHAN_TEXT = b"Subject: crash\r\n\r\nwritten, never committed\r\n"


def make_orphan(f, content=ORPHAN_TEXT):
    """What a kill -9 between blob write and commit leaves behind."""
    bid = hashlib.sha256(content).hexdigest()
    sub = os.path.join(f.dir, "data", "blobs", bid[:2])
    os.makedirs(sub, exist_ok=True)
    path = os.path.join(sub, bid)
    with open(path, "wb") as fh:
        fh.write(content)
    return path


def blob_paths(f):
    db = sqlite3.connect(os.path.join(f.dir, "data", "facteur.db"))
    ids = [r[0] for r in db.execute("SELECT blob_id FROM messages ORDER BY id")]
    db.close()
    return [os.path.join(f.dir, "data", "blobs", i[:2], i) for i in ids]


def inbox_count(f):
    m = imaplib.IMAP4(HOST, f.ports["imap"], timeout=30)
    m.login(f.user, f.password)
    typ, data = m.select("INBOX")
    m.logout()
    return int(data[0])


def test_orphans_are_removed_at_start(make_facteur):
    f = make_facteur()
    msg = make_message("kept")
    assert send_mx(f, msg) == {}
    assert f.stop() == 0
    orphan = make_orphan(f)
    kept = blob_paths(f)
    f.start()
    # The listeners answer before the sweep (it runs before the workers).
    assert wait_for(lambda: "event=orphans removed=1" in f.logs(), timeout=20), f.logs()
    assert not os.path.exists(orphan)
    assert all(os.path.exists(p) for p in kept)
    assert inbox_count(f) == 1
    # Deliveries after the sweep still work, and find their blobs.
    assert send_mx(f, make_message("after")) == {}
    assert inbox_count(f) == 2


def test_check_store_reports_and_repairs(make_facteur):
    f = make_facteur()
    for i in range(3):
        assert send_mx(f, make_message("m%d" % i)) == {}
    assert f.stop() == 0

    r = f.cli("check-store", check=False)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "0 problem(s)" in r.stdout

    orphan = make_orphan(f)
    db = sqlite3.connect(os.path.join(f.dir, "data", "facteur.db"))
    db.execute("UPDATE mailboxes SET uidnext = 2 WHERE name = 'INBOX'")
    db.commit()
    db.close()
    r = f.cli("check-store", check=False)
    assert r.returncode == 1, r.stdout + r.stderr
    assert "orphan file" in r.stdout and "UIDNEXT 2" in r.stdout
    assert "2 problem(s), 0 repaired, 2 left" in r.stdout
    assert os.path.exists(orphan)  # a check alone changes nothing

    r = f.cli("check-store", "--repair", check=False)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "2 repaired, 0 left" in r.stdout
    assert not os.path.exists(orphan)
    r = f.cli("check-store", check=False)
    assert r.returncode == 0 and "0 problem(s)" in r.stdout

    # Damage it cannot repair: reported by --repair, exit status 1.
    victim = blob_paths(f)[1]
    with open(victim, "r+b") as fh:
        fh.write(b"X")
    r = f.cli("check-store", "--repair", check=False)
    assert r.returncode == 1, r.stdout + r.stderr
    assert "content hashes to" in r.stdout and "cannot repair" in r.stdout
    assert "1 left" in r.stdout

    # The server still starts and serves the other messages.
    f.start()
    assert inbox_count(f) == 3


def test_check_store_usage(make_facteur):
    f = make_facteur(start=False)
    r = f.cli("check-store", "--bogus", check=False)
    assert r.returncode == 2 and "usage: facteur check-store" in r.stderr
    r = f.cli("check-store", "--help", check=False)
    assert r.returncode == 0 and "--repair" in r.stdout
