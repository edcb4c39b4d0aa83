# SPDX-License-Identifier: MIT
"""Submission may only write as the authenticated user (issue 9 item 11):
the From: and Sender: addresses of a message submitted over SMTP (smtplib,
swaks) or JMAP EmailSubmission (urllib) must be the user's own address, an
alias that delivers to the user, one of the user's JMAP identities, or an
entry of submission_from_exceptions; otherwise 550 5.7.1 / forbiddenFrom.
Multiple From addresses, two From: fields, malformed fields and group
syntax are covered."""
import base64
import json
import smtplib
import subprocess
import urllib.request

import pytest

from conftest import CLIENT_NAME, HOST, pop3_fetch_all

ALICE, BOB = "alice@example.test", "bob@example.test"
PW = "alice-secret-pw-1"

EXCEPTIONS = ("submission_from_exceptions = alice@example.test:ceo@example.test, "
              "alice@example.test:@partner.example")


@pytest.fixture
def f(make_facteur):
    fa = make_facteur(extra_config=EXCEPTIONS, start=False)
    fa.add_user(ALICE, PW)
    fa.add_user(BOB, "bob-secret-pw-1")
    fa.cli("alias", "add", "sales@example.test", ALICE)
    fa.cli("alias", "add", "team@example.test", ALICE)
    fa.cli("alias", "add", "team@example.test", BOB)
    return fa.start()


def message(from_lines, subject="from check"):
    return ("%sTo: <demo@example.test>\r\nSubject: %s\r\n"
            "Date: Mon, 01 Jan 2024 00:00:00 +0000\r\n\r\nbody\r\n"
            % ("".join(l + "\r\n" for l in from_lines), subject)).encode()


def send_as(f, from_lines, mail_from=ALICE, user=ALICE, password=PW):
    """(code, text) of the end of DATA, or of MAIL FROM when it is refused."""
    with smtplib.SMTP(f.host, f.ports["submission"], local_hostname=CLIENT_NAME,
                      timeout=30) as s:
        s.starttls(context=f.tls_context())
        s.login(user, password)
        try:
            s.sendmail(mail_from, ["demo@example.test"], message(from_lines))
            return 250, b""
        except smtplib.SMTPDataError as e:
            return e.smtp_code, e.smtp_error
        except smtplib.SMTPSenderRefused as e:
            return e.smtp_code, e.smtp_error


@pytest.mark.parametrize("lines", [
    ["From: Alice <alice@example.test>"],
    ["From: ALICE@Example.Test"],
    ["From: sales@example.test"],                       # alias of alice
    ["From: alice+news@example.test"],                  # sub-address
    ["From: The CEO <ceo@example.test>"],               # exception
    ["From: anyone@partner.example"],                   # domain exception
    ["From: alice@example.test, sales@example.test"],   # several, all hers
    ["From: Us: alice@example.test, sales@example.test;"],  # group
    ["From: ceo@example.test", "Sender: alice@example.test"],
    ["From: team@example.test"],                        # alias to alice and bob
    [],                                                 # no From: nothing to check
])
def test_owned_from_is_accepted(f, lines):
    code, text = send_as(f, lines)
    assert code == 250, text


@pytest.mark.parametrize("lines", [
    ["From: bob@example.test"],                         # alice as bob
    ["From: \"alice@example.test\" <bob@example.test>"],
    ["From: alice@example.test, bob@example.test"],     # one of several
    ["From: Us: alice@example.test, bob@example.test;"],  # a group member
    ["From: undisclosed-senders:;"],                    # empty group
    ["From: alice@example.test", "From: bob@example.test"],  # two fields
    ["From: alice@example.test", "From: alice@example.test"],
    ["From: alice@example.test", "Sender: bob@example.test"],
    ["From: this is not an address"],
    ["From: alice"],
    ["From: someone@other.example"],
    ["From: nobody-here@example.test"],
])
def test_foreign_from_is_refused(f, lines):
    code, text = send_as(f, lines)
    assert code == 550, text
    assert text.startswith(b"5.7.1"), text


def test_refusal_keeps_session_and_nothing_is_delivered(f):
    with smtplib.SMTP(f.host, f.ports["submission"], local_hostname=CLIENT_NAME,
                      timeout=30) as s:
        s.starttls(context=f.tls_context())
        s.login(ALICE, PW)
        with pytest.raises(smtplib.SMTPDataError) as e:
            s.sendmail(ALICE, ["demo@example.test"], message(["From: bob@example.test"]))
        assert e.value.smtp_code == 550
        assert b"bob@example.test" in e.value.smtp_error
        # The same session goes on with an honest message.
        assert s.sendmail(ALICE, ["demo@example.test"],
                          message(["From: alice@example.test"], "honest")) == {}
    msgs = pop3_fetch_all(f)
    assert len(msgs) == 1 and b"Subject: honest" in msgs[0]
    assert "smtp.from_refused" in f.logs()


def test_bob_may_not_use_alices_alias_or_exception(f):
    for addr in ("sales@example.test", "ceo@example.test", "x@partner.example"):
        code, text = send_as(f, ["From: " + addr], mail_from=BOB, user=BOB,
                             password="bob-secret-pw-1")
        assert code == 550, (addr, text)


def test_envelope_exception_applies_to_mail_from(f):
    code, text = send_as(f, ["From: ceo@example.test"], mail_from="ceo@example.test")
    assert code == 250, text
    code, text = send_as(f, ["From: alice@example.test"], mail_from=BOB)
    assert code == 553, text


def test_swaks_as_bob_is_refused(f):
    def swaks(header_from):
        return subprocess.run(
            ["swaks", "--server", HOST, "--port", str(f.ports["submissions"]),
             "--ehlo", "client.example", "--tls-on-connect", "--auth", "PLAIN",
             "--auth-user", ALICE, "--auth-password", PW, "--from", ALICE,
             "--to", "demo@example.test", "--header", "From: " + header_from,
             "--header", "Subject: swaks from check"],
            capture_output=True, text=True, timeout=60)
    r = swaks(BOB)
    assert r.returncode != 0
    assert "550 5.7.1" in r.stdout, r.stdout
    r = swaks("sales@example.test")
    assert r.returncode == 0, r.stdout + r.stderr


def test_bad_exception_list_is_refused_by_check_config(make_facteur):
    fa = make_facteur(extra_config="submission_from_exceptions = alice-without-colon",
                      start=False)
    r = fa.cli("check-config", check=False)
    assert r.returncode != 0
    assert "submission_from_exceptions" in r.stderr + r.stdout


# --- JMAP ---------------------------------------------------------------

def jmap(f, calls, user=ALICE, password=PW):
    token = base64.b64encode(("%s:%s" % (user, password)).encode()).decode()
    req = urllib.request.Request(
        "http://127.0.0.1:%d/jmap/api" % f.ports["http"], method="POST",
        data=json.dumps({"using": ["urn:ietf:params:jmap:core", "urn:ietf:params:jmap:mail",
                                   "urn:ietf:params:jmap:submission"],
                         "methodCalls": calls}).encode(),
        headers={"Authorization": "Basic " + token, "Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=30) as r:
        return json.loads(r.read())["methodResponses"]


def account(f, user=ALICE, password=PW):
    token = base64.b64encode(("%s:%s" % (user, password)).encode()).decode()
    req = urllib.request.Request("http://127.0.0.1:%d/.well-known/jmap" % f.ports["http"],
                                 headers={"Authorization": "Basic " + token})
    with urllib.request.urlopen(req, timeout=10) as r:
        return json.loads(r.read())["primaryAccounts"]["urn:ietf:params:jmap:mail"]


def jmap_send(f, from_addr, identity_email=ALICE, extra_headers=None):
    """Create a draft From from_addr and submit it with the identity of
    identity_email (created when needed); the EmailSubmission/set answer."""
    account_id = account(f)
    acct = jmap(f, [["Mailbox/get", {"accountId": account_id, "ids": None}, "m"]])[0][1]
    drafts = [m["id"] for m in acct["list"] if m["role"] == "drafts"][0]
    idents = jmap(f, [["Identity/get", {"accountId": account_id}, "i"]])[0][1]["list"]
    ident = [i["id"] for i in idents if i["email"] == identity_email]
    if not ident:
        r = jmap(f, [["Identity/set", {"accountId": account_id,
                                       "create": {"n": {"email": identity_email}}}, "s"]])
        ident = [r[0][1]["created"]["n"]["id"]]
    email = {"mailboxIds": {drafts: True}, "from": [{"email": from_addr}],
             "to": [{"email": "demo@example.test"}], "subject": "jmap from check",
             "bodyValues": {"b": {"value": "hello"}},
             "textBody": [{"partId": "b", "type": "text/plain"}]}
    if extra_headers:
        email.update(extra_headers)
    r = jmap(f, [["Email/set", {"accountId": account_id, "create": {"e": email}}, "0"],
                 ["EmailSubmission/set", {"accountId": account_id, "create": {
                     "s": {"emailId": "#e", "identityId": ident[0]}}}, "1"]])
    assert r[0][1].get("created", {}).get("e"), r
    return r[1][1]


def test_jmap_from_check(f):
    assert "s" in jmap_send(f, ALICE).get("created", {})
    assert "s" in jmap_send(f, "sales@example.test").get("created", {})
    res = jmap_send(f, BOB)
    assert res["notCreated"]["s"]["type"] == "forbiddenFrom", res
    res = jmap_send(f, ALICE, extra_headers={"sender": [{"email": BOB}]})
    assert res["notCreated"]["s"]["type"] == "forbiddenFrom", res
    # An identity for an exception address, then a message from it.
    assert "s" in jmap_send(f, "ceo@example.test", identity_email="ceo@example.test").get(
        "created", {})
    msgs = pop3_fetch_all(f)
    assert len(msgs) == 3, [m[:300] for m in msgs]


def test_jmap_identity_for_foreign_address_is_forbidden(f):
    account_id = account(f)
    r = jmap(f, [["Identity/set", {"accountId": account_id,
                                   "create": {"n": {"email": BOB}}}, "s"]])
    assert r[0][1]["notCreated"]["n"]["type"] == "forbiddenFrom", r
