# SPDX-License-Identifier: MIT
"""Outbound sending limits (issue 10 part 5): messages and recipients per
hour for each authenticated account (configuration default, the account's
own through `facteur user limit`) and for each domain, refused with
`450 4.7.1` over SMTP submission (smtplib) and `forbiddenToSend` over JMAP
EmailSubmission; MX mail is not counted. `facteur queue list`/`show`/
`senders` say which account submitted each queued message."""
import smtplib

from conftest import make_message, send_mx, pop3_fetch_all
from test_submission import submission
from test_submission_from import ALICE, PW, jmap_send


def login(f, user, password):
    s = submission(f)
    s.login(user, password)
    return s


def test_submission_limits_and_queue_submitter(make_facteur):
    f = make_facteur(extra_config="send_limit_messages = 2\nsend_limit_recipients = 3\n"
                                  "send_limit_domain_messages = 4\n", start=False)
    f.add_user(ALICE, PW)
    f.start()
    s = login(f, f.user, f.password)
    s.sendmail(f.user, ["far@remote.example"], make_message("one", sender=f.user))
    s.sendmail(f.user, ["demo@example.test", "far2@remote.example"],
               make_message("two", sender=f.user))
    # Third message: over 2 messages an hour, refused at MAIL with 450.
    code, text = s.mail(f.user)
    assert code == 450 and b"4.7.1" in text and b"2 messages per hour" in text, text
    # The refusal is not a client error: the session goes on.
    assert s.noop()[0] == 250
    s.quit()

    # Own limits: more messages, still 3 recipients (3 used already).
    r = f.cli("user", "limit", f.user, "10", "default")
    assert "messages=10/hour recipients=default" in r.stdout, r.stdout
    s = login(f, f.user, f.password)
    assert s.mail(f.user)[0] == 250
    code, text = s.rcpt("x@remote.example")
    assert code == 450 and b"3 recipients per hour" in text, text
    s.rset()
    s.quit()
    f.cli("user", "limit", f.user, "10", "0")
    s = login(f, f.user, f.password)
    s.sendmail(f.user, ["a@remote.example", "b@remote.example"],
               make_message("three", sender=f.user))
    s.quit()

    # Another account has its own count; the domain has had 3 of its 4.
    s = login(f, ALICE, PW)
    s.sendmail(ALICE, ["demo@example.test"], make_message("alice one", sender=ALICE))
    code, text = s.mail(ALICE)
    assert code == 450 and b"Domain sending limit" in text, text
    s.quit()

    # MX mail is not limited.
    for i in range(3):
        send_mx(f, make_message("mx %d" % i))
    assert len(pop3_fetch_all(f)) == 1 + 1 + 3

    queue = f.cli("queue", "list").stdout
    lines = [l for l in queue.splitlines() if "remote.example" in l]
    assert len(lines) == 4 and all(("by=" + f.user) in l for l in lines), queue
    first = queue.split()[0]
    assert ("submitted-by: " + f.user) in f.cli("queue", "show", first).stdout
    senders = f.cli("queue", "senders").stdout
    assert f.user in senders and "messages=3 recipients=4" in senders, senders


def test_bad_limit_arguments(make_facteur):
    f = make_facteur(start=False)
    assert f.cli("user", "limit", f.user, "-3", "5", check=False).returncode == 2
    assert f.cli("user", "limit", f.user, "many", "5", check=False).returncode == 2
    r = f.cli("user", "limit", "nobody@example.test", "1", "1", check=False)
    assert r.returncode == 1 and "no such account" in r.stderr, r.stderr
    assert f.cli("user", "limit", f.user, "default", "default").returncode == 0


def test_jmap_submission_limit(make_facteur):
    f = make_facteur(extra_config="send_limit_messages = 1\n", start=False)
    f.add_user(ALICE, PW)
    f.start()
    assert "s" in jmap_send(f, ALICE).get("created", {})
    res = jmap_send(f, ALICE)
    assert res["notCreated"]["s"]["type"] == "forbiddenToSend", res
    assert "1 messages per hour" in res["notCreated"]["s"]["description"], res
    # SMTP submission shares the count.
    s = login(f, ALICE, PW)
    code, text = s.mail(ALICE)
    assert code == 450, text
    s.quit()
