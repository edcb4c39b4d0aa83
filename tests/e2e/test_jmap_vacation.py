# SPDX-License-Identifier: MIT
"""The JMAP VacationResponse replies, end to end with one server for the
module: set over JMAP with urllib, mail sent with smtplib to the MX
listener, the reply read from `facteur queue` (one per sender within
:days, Auto-Submitted, subject and body as set) or from the local sender's
INBOX with imaplib; a fromDate in the future, disabling, and a script of
the user's own activated with `facteur sieve` (get follows it, enabling is
refused with a clear SetError)."""
import base64
import glob
import imaplib
import json
import os
import re
import urllib.request

import pytest

from conftest import HOST, Facteur, assert_clean_logs, make_message, send_mx

USING = ["urn:ietf:params:jmap:core", "urn:ietf:params:jmap:mail",
         "urn:ietf:params:jmap:vacationresponse"]


@pytest.fixture(scope="module")
def f(tmp_path_factory):
    fac = Facteur(tmp_path_factory.mktemp("vacation") / "facteur").start()
    yield fac
    assert fac.stop() == 0, fac.logs()[-5000:]
    assert_clean_logs(fac)


def api(f, calls):
    req = urllib.request.Request(
        "http://127.0.0.1:%d/jmap/api" % f.ports["http"], method="POST",
        data=json.dumps({"using": USING, "methodCalls": calls}).encode(),
        headers={"Authorization": "Basic " + base64.b64encode(
            ("%s:%s" % (f.user, f.password)).encode()).decode(),
            "Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=30) as r:
        return [resp[1] for resp in json.loads(r.read())["methodResponses"]]


def vacation_set(f, **props):
    return api(f, [["VacationResponse/set",
                    {"accountId": "a1", "update": {"singleton": props}}, "0"]])[0]


def vacation_get(f):
    return api(f, [["VacationResponse/get", {"accountId": "a1"}, "0"]])[0]["list"][0]


def replies_to(f, sender):
    return [l for l in f.cli("queue", "list").stdout.splitlines()
            if "<> -> <%s>" % sender in l]


def queued_blob(f, recipient):
    qid = replies_to(f, recipient)[-1].split()[0]
    blob = re.search(r"blob: (\S+)", f.cli("queue", "show", qid).stdout).group(1)
    return open(glob.glob(os.path.join(f.dir, "data", "blobs", "*", blob))[0], "rb").read()


def test_vacation_replies(f):
    r = vacation_set(f, isEnabled=True, subject='Gone "fishing"',
                     textBody="Back on the 3rd.\n.a dot line\n")
    assert r["updated"] == {"singleton": None}, r
    assert f.cli("sieve", "list", f.user).stdout == "jmap-vacation ACTIVE\n"
    assert vacation_get(f)["isEnabled"] is True
    assert send_mx(f, make_message("first")) == {}
    assert send_mx(f, make_message("second")) == {}  # same sender within :days
    assert len(replies_to(f, "sender@example.org")) == 1
    data = queued_blob(f, "sender@example.org")
    assert b"\r\nAuto-Submitted: auto-replied\r\n" in data
    assert b'\r\nSubject: Gone "fishing"\r\n' in data
    assert b"\r\n\r\nBack on the 3rd.\r\n.a dot line\r\n" in data
    # A local sender gets the reply in its INBOX.
    f.add_user("other@example.test", "other-secret-1")
    assert send_mx(f, make_message("from a colleague", sender="other@example.test"),
                   sender="other@example.test") == {}
    assert not replies_to(f, "other@example.test")
    m = imaplib.IMAP4(HOST, f.ports["imap"], timeout=10)
    m.login("other@example.test", "other-secret-1")
    m.select("INBOX", readonly=True)
    typ, found = m.search(None, "HEADER", "Auto-Submitted", "auto-replied")
    assert len(found[0].split()) == 1
    typ, data = m.fetch(found[0].split()[0], "(BODY.PEEK[])")
    m.logout()
    assert b'Subject: Gone "fishing"' in data[0][1] and b"Back on the 3rd." in data[0][1]


def test_dates_disable_and_own_script(f):
    # Not yet in effect: no reply.
    r = vacation_set(f, isEnabled=True, fromDate="2099-01-01T00:00:00Z")
    assert r["updated"] == {"singleton": None}, r
    assert send_mx(f, make_message("early", sender="early@example.org"),
                   sender="early@example.org") == {}
    assert not replies_to(f, "early@example.org")
    # Disabled: the script is gone, no reply.
    r = vacation_set(f, isEnabled=False, fromDate=None)
    assert r["updated"] == {"singleton": None}, r
    assert f.cli("sieve", "list", f.user).stdout == ""
    assert send_mx(f, make_message("off", sender="off@example.org"),
                   sender="off@example.org") == {}
    assert not replies_to(f, "off@example.org")
    # Enabled, then the user activates a script of their own with the CLI.
    assert vacation_set(f, isEnabled=True)["updated"] == {"singleton": None}
    f.cli("sieve", "put", f.user, "mine", "-", input="keep;\n")
    f.cli("sieve", "activate", f.user, "mine")
    assert vacation_get(f)["isEnabled"] is False
    r = vacation_set(f, isEnabled=True)
    err = r["notUpdated"]["singleton"]
    assert err["type"] == "forbidden" and '"mine" is active' in err["description"], r
    assert f.cli("sieve", "list", f.user).stdout == "jmap-vacation\nmine ACTIVE\n"
    # Disabling leaves the user's script active.
    assert vacation_set(f, isEnabled=False)["updated"] == {"singleton": None}
    assert f.cli("sieve", "list", f.user).stdout == "mine ACTIVE\n"
