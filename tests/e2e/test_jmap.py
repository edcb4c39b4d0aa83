# SPDX-License-Identifier: MIT
"""JMAP end to end: npm jmap-jam (a JMAP client nobody here wrote, driven by
tests/e2e/jmap/jam.mjs) against a running facteur over HTTP on loopback,
plus urllib for the envelope errors and for states and changes while
Python's imaplib changes the same mailboxes."""
import base64
import imaplib
import json
import os
import shutil
import subprocess
import urllib.error
import urllib.request

import pytest

from conftest import BIN, make_message, send_mx

HERE = os.path.dirname(os.path.abspath(__file__))
JAM_DIR = os.path.join(HERE, "jmap")
USING = ["urn:ietf:params:jmap:core", "urn:ietf:params:jmap:mail",
         "urn:ietf:params:jmap:submission"]


@pytest.fixture(scope="module")
def jam_modules():
    """npm ci of tests/e2e/jmap from its committed lockfile (once)."""
    if not os.path.isdir(os.path.join(JAM_DIR, "node_modules", "jmap-jam")):
        assert shutil.which("npm"), "npm is required (scripts/deps.sh installs it)"
        r = subprocess.run(["npm", "ci", "--no-audit", "--no-fund"], cwd=JAM_DIR,
                           capture_output=True, text=True, timeout=300)
        assert r.returncode == 0, r.stdout + r.stderr
    return JAM_DIR


def base(f):
    return "http://127.0.0.1:%d" % f.ports["http"]


def auth(f):
    return "Basic " + base64.b64encode(("%s:%s" % (f.user, f.password)).encode()).decode()


def login_token(f):
    """The web session token (the cookie's value), usable as a Bearer token."""
    req = urllib.request.Request(base(f) + "/api/login", method="POST",
                                 data=json.dumps({"username": f.user,
                                                  "password": f.password}).encode(),
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=10) as r:
        cookie = r.headers["Set-Cookie"]
    return cookie.split(";", 1)[0].split("=", 1)[1]


def api(f, calls, using=USING, raw=None):
    body = raw if raw is not None else json.dumps({"using": using, "methodCalls": calls}).encode()
    req = urllib.request.Request(base(f) + "/jmap/api", data=body, method="POST",
                                 headers={"Authorization": auth(f),
                                          "Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            return r.status, r.headers["Content-Type"], json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, e.headers["Content-Type"], json.loads(e.read())


def session(f):
    req = urllib.request.Request(base(f) + "/.well-known/jmap",
                                 headers={"Authorization": auth(f)})
    with urllib.request.urlopen(req, timeout=10) as r:
        return json.loads(r.read())


def imap_login(f):
    m = imaplib.IMAP4(f.host, f.ports["imap"], timeout=30)
    m.starttls(f.tls_context())
    m.login(f.user, f.password)
    return m


def test_jmap_jam_reads_writes_and_sends(facteur, jam_modules):
    f = facteur
    send_mx(f, make_message("hello over smtp", body="The body arrives intact.\r\n",
                            sender="alice@example.org"), rcpts=(f.user,))
    env = dict(os.environ, SESSION_URL=base(f) + "/.well-known/jmap",
               TOKEN=login_token(f), USER_ADDR=f.user)
    r = subprocess.run(["node", "jam.mjs"], cwd=jam_modules, env=env, capture_output=True,
                       text=True, timeout=120)
    assert r.returncode == 0, r.stdout + r.stderr + f.logs()[-3000:]
    out = json.loads(r.stdout)
    assert out["accountId"].startswith("a")
    assert {"inbox", "drafts", "sent", "trash", "junk", "archive"} <= set(out["roles"])
    assert out["inboxTotal"] == 1 and out["inboxUnread"] == 1
    mqc = out["mailboxQueryChanges"]
    assert mqc["canCalculate"] is True and mqc["newState"] is True and mqc["removed"] == []
    assert mqc["added"] == [{"id": mqc["created"], "index": mqc["ids"].index(mqc["created"])}]
    assert mqc["total"] == len(mqc["ids"])
    assert out["total"] == 1
    assert out["subjects"] == ["hello over smtp"]
    assert out["from"] == "alice@example.org"
    assert "The body arrives intact." in out["body"]
    assert out["seenId"] in out["updated"]
    # queryChanges: the flagged message is removed and added back in place.
    assert out["canCalculateChanges"] is True
    assert out["queryChanges"] == {"removed": [out["seenId"]],
                                   "added": [{"id": out["seenId"], "index": 0}], "total": 1}
    assert out["uploadSize"] == len("col1,col2\n1,2\n")
    assert out["downloaded"] == "col1,col2\n1,2\n"
    assert len(out["submission"]) == 1 and out["submission"][0][1] == "final"
    assert out["implicitUpdated"] == [out["submission"][0][0]]
    assert out["inSent"] is True and out["draftKeyword"] is False
    assert out["error"] == "accountNotFound"
    # What JMAP did is what IMAP sees: \Seen, the sent copy, the delivery.
    m = imap_login(f)
    m.select("INBOX")
    typ, data = m.fetch("1:*", "(FLAGS BODY.PEEK[HEADER.FIELDS (SUBJECT)])")
    text = b" ".join(x[0] + x[1] if isinstance(x, tuple) else x for x in data)
    assert b"\\Seen" in text
    assert b"from jmap-jam" in text  # sent to ourselves: delivered locally
    m.select("Sent")
    typ, data = m.fetch("1", "(FLAGS BODY.PEEK[])")
    raw = data[0][1]
    assert b"numbers.csv" in raw and b"Sent through jmap-jam." in raw
    assert b"\\Draft" not in data[0][0]
    m.logout()


def test_envelope_errors_over_http(facteur):
    f = facteur
    s = session(f)
    assert s["apiUrl"] == base(f) + "/jmap/api"
    assert s["capabilities"]["urn:ietf:params:jmap:core"]["maxCallsInRequest"] == 64
    status, ctype, body = api(f, None, raw=b"{nope")
    assert status == 400 and ctype.startswith("application/problem+json")
    assert body["type"] == "urn:ietf:params:jmap:error:notJSON"
    status, _, body = api(f, [], using=["urn:example:unknown"])
    assert status == 400 and body["type"] == "urn:ietf:params:jmap:error:unknownCapability"
    status, _, body = api(f, [["Mailbox/get", {"accountId": s["primaryAccounts"][
        "urn:ietf:params:jmap:mail"]}, "0"], ["Foo/bar", {}, "1"],
        ["Email/get", {"accountId": "x", "#ids": {"resultOf": "9", "name": "Email/query",
                                                  "path": "/ids"}}, "2"]])
    assert status == 200
    names = [x[0] for x in body["methodResponses"]]
    assert names == ["Mailbox/get", "error", "error"]
    assert body["methodResponses"][1][1]["type"] == "unknownMethod"
    assert body["methodResponses"][2][1]["type"] == "invalidResultReference"


def test_states_follow_imap_changes(facteur):
    f = facteur
    for i in range(3):
        send_mx(f, make_message("state %d" % i), rcpts=(f.user,))
    acc = session(f)["primaryAccounts"]["urn:ietf:params:jmap:mail"]
    _, _, b = api(f, [["Email/query", {"accountId": acc, "sort": [{"property": "receivedAt"}]},
                       "q"],
                      ["Email/get", {"accountId": acc, "#ids": {"resultOf": "q",
                                                                "name": "Email/query",
                                                                "path": "/ids"},
                                     "properties": ["subject"]}, "g"],
                      ["Mailbox/get", {"accountId": acc, "ids": None}, "m"]])
    ids = b["methodResponses"][0][1]["ids"]
    assert len(ids) == 3
    estate = b["methodResponses"][1][1]["state"]
    mstate = b["methodResponses"][2][1]["state"]
    # IMAP: flag the first, move the second to Archive, expunge the third.
    m = imap_login(f)
    m.select("INBOX")
    m.store("1", "+FLAGS", "\\Flagged")
    m.store("1", "+FLAGS", "\\Seen")
    assert m.uid("MOVE", "2", "Archive")[0] == "OK"
    m.store("2", "+FLAGS", "\\Deleted")  # sequence 2 is now the third message
    m.expunge()
    m.logout()
    _, _, b = api(f, [["Email/changes", {"accountId": acc, "sinceState": estate}, "c"],
                      ["Mailbox/changes", {"accountId": acc, "sinceState": mstate}, "mc"],
                      ["Email/get", {"accountId": acc, "ids": ids[:1],
                                     "properties": ["keywords"]}, "g"]])
    ch = b["methodResponses"][0][1]
    assert ch["updated"] == [ids[0]]
    assert sorted(ch["destroyed"]) == sorted(ids[1:])
    assert len(ch["created"]) == 1  # the moved copy has a new id (IMAP MOVE)
    assert b["methodResponses"][1][1]["updatedProperties"] == [
        "totalEmails", "unreadEmails", "totalThreads", "unreadThreads"]
    kw = b["methodResponses"][2][1]["list"][0]["keywords"]
    assert kw == {"$flagged": True, "$seen": True}
    # A stale or foreign state: cannotCalculateChanges.
    _, _, b = api(f, [["Email/changes", {"accountId": acc, "sinceState": "999999999"}, "c"]])
    assert b["methodResponses"][0][1]["type"] == "cannotCalculateChanges"


def test_upload_ttl_setting(make_facteur):
    """jmap_upload_ttl: RFC 8620 6.1 keeps an unused upload at least an hour,
    so a shorter setting is refused; the daemon runs with a valid one (the
    expiry thread sweeps at start) and an upload made now is still there."""
    f = make_facteur(start=False)
    bad = os.path.join(f.dir, "bad.conf")
    with open(bad, "w") as out:
        out.write(open(f.conf).read() + "jmap_upload_ttl = 600\n")
    r = subprocess.run([BIN, "-c", bad, "check-config"], capture_output=True, text=True)
    assert r.returncode == 1 and "jmap_upload_ttl" in r.stderr, r.stderr
    f.write_config("jmap_upload_ttl = 3600")
    assert f.cli("check-config").returncode == 0
    f.start()
    req = urllib.request.Request(base(f) + "/jmap/upload/a1/", data=b"kept for an hour",
                                 headers={"Authorization": auth(f), "Content-Type": "text/plain"})
    up = json.load(urllib.request.urlopen(req, timeout=10))
    url = "%s/jmap/download/a1/%s/x.txt?accept=text/plain" % (base(f), up["blobId"])
    got = urllib.request.urlopen(urllib.request.Request(url, headers={"Authorization": auth(f)}),
                                 timeout=10).read()
    assert got == b"kept for an hour"
