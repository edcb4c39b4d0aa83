# SPDX-License-Identifier: MIT
"""Shared and public folders over JMAP (issue 8 part 1 reaching issue 7):
every owner who shares a mailbox with the user is one more account in the
session resource (isPersonal false, isReadOnly from the rights, Mail only);
Mailbox/get there lists only the shared mailboxes with myRights from the
ACL; Email methods see only messages of readable mailboxes and enforce the
rights (forbidden SetErrors); $seen there is the user's own (the owner's
\\Seen over IMAP does not move); changes and EventSource pushes follow what
the owner does. Clients: urllib, Python's imaplib, and npm jmap-jam
(tests/e2e/jmap/shared.mjs)."""
import base64
import imaplib
import json
import os
import re
import socket
import subprocess
import time
import urllib.error
import urllib.request

from conftest import make_message
from test_jmap import jam_modules  # noqa: F401 (the npm ci fixture)

ALICE, BOB, CAROL = "alice@example.test", "bob@example.test", "carol@example.test"
PW = "correct horse battery"
USING = ["urn:ietf:params:jmap:core", "urn:ietf:params:jmap:mail",
         "urn:ietf:params:jmap:submission"]
MAIL = "urn:ietf:params:jmap:mail"
imaplib.Commands.setdefault("MOVE", ("SELECTED",))


def base(f):
    return "http://127.0.0.1:%d" % f.ports["http"]


def auth(user):
    return "Basic " + base64.b64encode(("%s:%s" % (user, PW)).encode()).decode()


def session(f, user):
    req = urllib.request.Request(base(f) + "/.well-known/jmap",
                                 headers={"Authorization": auth(user)})
    with urllib.request.urlopen(req, timeout=10) as r:
        return json.loads(r.read())


def api(f, user, calls):
    body = json.dumps({"using": USING, "methodCalls": calls}).encode()
    req = urllib.request.Request(base(f) + "/jmap/api", data=body, method="POST",
                                 headers={"Authorization": auth(user),
                                          "Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=30) as r:
        return json.loads(r.read())["methodResponses"]


def call(f, user, name, args):
    [[rname, res, _]] = api(f, user, [[name, args, "c"]])
    return rname, res


def imap(f, user):
    m = imaplib.IMAP4("127.0.0.1", f.ports["imap"], timeout=20)
    assert m.login(user, PW)[0] == "OK"
    return m


def share_team(f, rights="lr", messages=2):
    """alice has Team with messages (and one in her INBOX), shared with bob."""
    for u in (ALICE, BOB, CAROL):
        f.add_user(u, PW)
    a = imap(f, ALICE)
    assert a.create("Team")[0] == "OK"
    for i in range(messages):
        assert a.append("Team", None, None,
                        make_message("team %d" % i, body="team body %d\r\n" % i))[0] == "OK"
    assert a.append("INBOX", None, None, make_message("private", body="secret\r\n"))[0] == "OK"
    assert f.cli("share", ALICE, "Team", BOB, rights).returncode == 0
    acc = [k for k, v in session(f, ALICE)["accounts"].items() if v["isPersonal"]][0]
    return a, acc


def team_ids(f, user, acc):
    _, boxes = call(f, user, "Mailbox/get", {"accountId": acc, "ids": None})
    team = [b for b in boxes["list"] if b["name"] == "Team"][0]
    _, q = call(f, user, "Email/query", {"accountId": acc, "filter": {"inMailbox": team["id"]},
                                         "sort": [{"property": "receivedAt"}]})
    return team, q["ids"]


def test_session_lists_shared_accounts(facteur):
    f = facteur
    a, acc = share_team(f, "lr")
    s = session(f, BOB)
    own = [k for k, v in s["accounts"].items() if v["isPersonal"]]
    assert len(own) == 1 and s["primaryAccounts"][MAIL] == own[0]
    shared = s["accounts"][acc]
    assert shared["name"] == ALICE and shared["isPersonal"] is False
    assert shared["isReadOnly"] is True
    assert list(shared["accountCapabilities"]) == [MAIL]
    assert shared["accountCapabilities"][MAIL]["mayCreateTopLevelMailbox"] is False
    state = s["state"]
    # More rights: no longer read-only, and the session state moves.
    assert f.cli("share", ALICE, "Team", BOB, "lrs").returncode == 0
    s2 = session(f, BOB)
    assert s2["accounts"][acc]["isReadOnly"] is False and s2["state"] != state
    # carol got nothing: only her own account.
    assert len(session(f, CAROL)["accounts"]) == 1
    # A public folder: its account is named after the domain.
    assert f.cli("public", "create", "example.test", "Board").returncode == 0
    assert f.cli("share", "example.test", "Board", "authenticated", "lr").returncode == 0
    names = {v["name"] for v in session(f, CAROL)["accounts"].values() if not v["isPersonal"]}
    assert names == {"example.test"}


def test_mailbox_get_rights_and_no_trace(facteur):
    f = facteur
    a, acc = share_team(f, "lr")
    _, boxes = call(f, BOB, "Mailbox/get", {"accountId": acc, "ids": None})
    assert [b["name"] for b in boxes["list"]] == ["Team"]
    team = boxes["list"][0]
    assert team["totalEmails"] == 2 and team["unreadEmails"] == 2
    assert team["role"] is None and team["parentId"] is None
    assert team["myRights"] == {"mayReadItems": True, "mayAddItems": False,
                                "mayRemoveItems": False, "maySetSeen": False,
                                "maySetKeywords": False, "mayCreateChild": False,
                                "mayRename": False, "mayDelete": False, "maySubmit": False}
    assert f.cli("share", ALICE, "Team", BOB, "lrswitekx").returncode == 0
    _, boxes = call(f, BOB, "Mailbox/get", {"accountId": acc, "ids": None})
    r = boxes["list"][0]["myRights"]
    assert r["mayAddItems"] and r["mayRemoveItems"] and r["maySetSeen"] and r["maySetKeywords"]
    assert r["mayCreateChild"] and r["mayDelete"] and r["mayRename"] and not r["maySubmit"]
    # alice's INBOX is not there: not by id, not in a query, not by Email/get.
    _, mine = call(f, ALICE, "Mailbox/get", {"accountId": acc, "ids": None})
    inbox = [b for b in mine["list"] if b["role"] == "inbox"][0]
    _, got = call(f, BOB, "Mailbox/get", {"accountId": acc, "ids": [inbox["id"]]})
    assert got["list"] == [] and got["notFound"] == [inbox["id"]]
    _, q = call(f, BOB, "Email/query", {"accountId": acc})
    assert len(q["ids"]) == 2
    _, qa = call(f, ALICE, "Email/query", {"accountId": acc, "filter": {"inMailbox": inbox["id"]}})
    _, g = call(f, BOB, "Email/get", {"accountId": acc, "ids": qa["ids"]})
    assert g["list"] == [] and g["notFound"] == qa["ids"]
    # Read a message of Team.
    _, g = call(f, BOB, "Email/get", {"accountId": acc, "ids": q["ids"],
                                      "properties": ["subject", "mailboxIds", "keywords"]})
    assert sorted(e["subject"] for e in g["list"]) == ["team 0", "team 1"]
    assert all(list(e["mailboxIds"]) == [team["id"]] for e in g["list"])


def test_bad_accounts(facteur):
    f = facteur
    a, acc = share_team(f, "lr")
    # carol has no grant: alice's account does not exist for her.
    name, res = call(f, CAROL, "Mailbox/get", {"accountId": acc, "ids": None})
    assert name == "error" and res["type"] == "accountNotFound"
    for bad in ("a", "a0", "a-1", "x1", "a99999", "#x"):
        name, res = call(f, BOB, "Email/query", {"accountId": bad})
        assert name == "error" and res["type"] == "accountNotFound", bad
    # Only Mail methods on a shared account.
    name, res = call(f, BOB, "Identity/get", {"accountId": acc})
    assert name == "error" and res["type"] == "accountNotSupportedByMethod"
    name, res = call(f, BOB, "Email/import", {"accountId": acc, "emails": {}})
    assert name == "error" and res["type"] == "accountNotSupportedByMethod"
    # Mailboxes of a shared account are the owner's to change.
    team, _ = team_ids(f, BOB, acc)
    _, res = call(f, BOB, "Mailbox/set", {"accountId": acc, "create": {"n": {"name": "X"}},
                                          "update": {team["id"]: {"name": "Y"}},
                                          "destroy": [team["id"]]})
    assert res["notCreated"]["n"]["type"] == "forbidden"
    assert res["notUpdated"][team["id"]]["type"] == "forbidden"
    assert res["notDestroyed"][team["id"]]["type"] == "forbidden"
    # Revoked: the account is gone.
    assert f.cli("share", ALICE, "Team", BOB, "none").returncode == 0
    name, res = call(f, BOB, "Mailbox/get", {"accountId": acc, "ids": None})
    assert name == "error" and res["type"] == "accountNotFound"


def alice_flags(a):
    assert a.select("Team")[0] == "OK"
    typ, data = a.fetch("1:*", "(FLAGS)")
    return [d.decode() for d in data]


def test_rights_enforced_on_email_set(facteur):
    f = facteur
    a, acc = share_team(f, "lr")
    team, ids = team_ids(f, BOB, acc)
    _, res = call(f, BOB, "Email/set", {
        "accountId": acc,
        "update": {ids[0]: {"keywords/$seen": True}, ids[1]: {"keywords/$flagged": True}},
        "destroy": [ids[0]],
        "create": {"c": {"mailboxIds": {team["id"]: True}, "subject": "x",
                         "textBody": [{"partId": "1", "type": "text/plain"}],
                         "bodyValues": {"1": {"value": "hi"}}}}})
    assert res["notUpdated"][ids[0]]["type"] == "forbidden"
    assert res["notUpdated"][ids[1]]["type"] == "forbidden"
    assert res["notDestroyed"][ids[0]]["type"] == "forbidden"
    assert res["notCreated"]["c"]["type"] == "forbidden"
    assert all("\\Flagged" not in x and "\\Seen" not in x for x in alice_flags(a))
    # s: $seen yes (bob's own), $flagged still no.
    assert f.cli("share", ALICE, "Team", BOB, "lrs").returncode == 0
    _, res = call(f, BOB, "Email/set", {"accountId": acc, "update": {
        ids[0]: {"keywords/$seen": True}, ids[1]: {"keywords/$flagged": True}}})
    assert ids[0] in res["updated"] and res["notUpdated"][ids[1]]["type"] == "forbidden"
    # Insert with only $seen allowed among keywords.
    assert f.cli("share", ALICE, "Team", BOB, "lrsi").returncode == 0
    _, res = call(f, BOB, "Email/set", {"accountId": acc, "create": {
        "c": {"mailboxIds": {team["id"]: True}, "subject": "from bob",
              "keywords": {"$flagged": True},
              "textBody": [{"partId": "1", "type": "text/plain"}],
              "bodyValues": {"1": {"value": "hi"}}},
        "d": {"mailboxIds": {team["id"]: True}, "subject": "from bob",
              "keywords": {"$seen": True},
              "textBody": [{"partId": "1", "type": "text/plain"}],
              "bodyValues": {"1": {"value": "hi"}}}}})
    assert res["notCreated"]["c"]["type"] == "forbidden"
    new = res["created"]["d"]["id"]
    _, g = call(f, BOB, "Email/get", {"accountId": acc, "ids": [new], "properties": ["keywords"]})
    assert g["list"][0]["keywords"] == {"$seen": True}
    _, g = call(f, ALICE, "Email/get", {"accountId": acc, "ids": [new],
                                        "properties": ["keywords"]})
    assert g["list"][0]["keywords"] == {}
    # t and e: destroy; alice sees it gone.
    assert f.cli("share", ALICE, "Team", BOB, "lrsite").returncode == 0
    _, res = call(f, BOB, "Email/set", {"accountId": acc, "destroy": [new]})
    assert res["destroyed"] == [new]
    assert len(alice_flags(a)) == 2


def test_per_user_seen_and_move(facteur):
    f = facteur
    a, acc = share_team(f, "lrswite")
    assert a.create("Team/Done")[0] == "OK"
    assert f.cli("share", ALICE, "Team/Done", BOB, "lr").returncode == 0
    team, ids = team_ids(f, BOB, acc)
    _, res = call(f, BOB, "Email/set", {"accountId": acc,
                                        "update": {ids[0]: {"keywords/$seen": True}}})
    assert ids[0] in res["updated"]
    _, g = call(f, BOB, "Email/get", {"accountId": acc, "ids": ids, "properties": ["keywords"]})
    assert [e["keywords"] for e in g["list"]] == [{"$seen": True}, {}]
    _, boxes = call(f, BOB, "Mailbox/get", {"accountId": acc, "ids": [team["id"]]})
    assert boxes["list"][0]["unreadEmails"] == 1 and boxes["list"][0]["unreadThreads"] == 1
    # The owner's \Seen did not move (IMAP and JMAP).
    assert all("\\Seen" not in x for x in alice_flags(a))
    _, g = call(f, ALICE, "Email/get", {"accountId": acc, "ids": ids, "properties": ["keywords"]})
    assert [e["keywords"] for e in g["list"]] == [{}, {}]
    _, boxes = call(f, ALICE, "Mailbox/get", {"accountId": acc, "ids": [team["id"]]})
    assert boxes["list"][0]["unreadEmails"] == 2
    # Done is a child of Team; bob may not add there (no i): the move is forbidden.
    _, boxes = call(f, BOB, "Mailbox/get", {"accountId": acc, "ids": None})
    done = [b for b in boxes["list"] if b["name"] == "Done"][0]
    assert done["parentId"] == team["id"]
    _, res = call(f, BOB, "Email/set", {"accountId": acc, "update": {
        ids[1]: {"mailboxIds": {done["id"]: True}}}})
    assert res["notUpdated"][ids[1]]["type"] == "forbidden"
    assert f.cli("share", ALICE, "Team/Done", BOB, "lri").returncode == 0
    _, res = call(f, BOB, "Email/set", {"accountId": acc, "update": {
        ids[1]: {"mailboxIds": {done["id"]: True}}}})
    assert ids[1] in res["updated"]
    assert a.select("Team/Done")[0] == "OK" and a.search(None, "ALL")[1][0] == b"1"


def test_changes_follow_the_owner(facteur):
    f = facteur
    a, acc = share_team(f, "lrs")
    team, ids = team_ids(f, BOB, acc)
    _, g = call(f, BOB, "Email/get", {"accountId": acc, "ids": []})
    state = g["state"]
    _, mg = call(f, BOB, "Mailbox/get", {"accountId": acc, "ids": []})
    mstate = mg["state"]
    # alice appends to Team and to her INBOX, flags one Team message.
    assert a.append("Team", None, None, make_message("team 2", body="x\r\n"))[0] == "OK"
    assert a.append("INBOX", None, None, make_message("private 2", body="y\r\n"))[0] == "OK"
    assert a.select("Team")[0] == "OK"
    assert a.store("1", "+FLAGS", "\\Flagged")[0] == "OK"
    _, ch = call(f, BOB, "Email/changes", {"accountId": acc, "sinceState": state})
    assert len(ch["created"]) == 1 and ch["updated"] == [ids[0]]
    _, g = call(f, BOB, "Email/get", {"accountId": acc, "ids": ch["created"],
                                      "properties": ["subject"]})
    assert g["list"][0]["subject"] == "team 2"
    _, mc = call(f, BOB, "Mailbox/changes", {"accountId": acc, "sinceState": mstate})
    assert mc["updated"] == [team["id"]] and mc["created"] == []
    # A message moved out of Team into a mailbox bob may not see: destroyed for him.
    _, g = call(f, BOB, "Email/get", {"accountId": acc, "ids": []})
    state = g["state"]
    assert a.create("Private")[0] == "OK"
    assert a.uid("MOVE", "1", "Private")[0] == "OK"
    _, ch = call(f, BOB, "Email/changes", {"accountId": acc, "sinceState": state})
    assert ids[0] in ch["destroyed"] and ch["created"] == []


def test_eventsource_pushes_owner_changes(facteur):
    f = facteur
    a, acc = share_team(f, "lr")
    s = socket.create_connection(("127.0.0.1", f.ports["http"]), timeout=10)
    s.sendall(("GET /jmap/eventsource?types=Email&closeafter=no&ping=0 HTTP/1.1\r\n"
               "Host: h\r\nAuthorization: %s\r\n\r\n" % auth(BOB)).encode())
    data = b""
    while data.count(b"event: state") < 1:
        data += s.recv(65536)
    first = json.loads(re.findall(rb"data: (.*)\n", data)[-1])
    assert acc in first["changed"] and "Email" in first["changed"][acc]
    before = first["changed"][acc]["Email"]
    assert a.append("Team", None, None, make_message("pushed", body="x\r\n"))[0] == "OK"
    deadline = time.time() + 5
    while data.count(b"event: state") < 2 and time.time() < deadline:
        data += s.recv(65536)
    s.close()
    ev = json.loads(re.findall(rb"data: (.*)\n", data)[-1])
    assert list(ev["changed"]) == [acc]
    assert ev["changed"][acc]["Email"] != before


def test_jam_reads_a_shared_folder(facteur, jam_modules):  # noqa: F811
    f = facteur
    a, acc = share_team(f, "lrs")
    req = urllib.request.Request(base(f) + "/api/login", method="POST",
                                 data=json.dumps({"username": BOB, "password": PW}).encode(),
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=10) as resp:
        token = resp.headers["Set-Cookie"].split(";", 1)[0].split("=", 1)[1]
    env = dict(os.environ, SESSION_URL=base(f) + "/.well-known/jmap", TOKEN=token)
    r = subprocess.run(["node", "shared.mjs"], cwd=jam_modules, env=env, capture_output=True,
                       text=True, timeout=120)
    assert r.returncode == 0, r.stdout + r.stderr + f.logs()[-3000:]
    out = json.loads(r.stdout)
    assert out["shared"] == [[acc, ALICE, False]]
    assert out["mailboxes"] == ["Team"]
    assert sorted(out["subjects"]) == ["team 0", "team 1"]
    assert out["seen"] is True
    assert all("\\Seen" not in x for x in alice_flags(a))
    assert out["downloaded"] is True
    assert out["copied"][0] in ("team 0", "team 1") and out["copied"][1] is True
