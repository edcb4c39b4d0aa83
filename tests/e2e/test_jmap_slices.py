# SPDX-License-Identifier: MIT
"""A JMAP request does not hold its worker while it threads new mail
(issue 9 item 3). Messages that came over IMAP have no JMAP thread yet;
the first JMAP request with the mail capability threads them, which with
20,000 messages held the loop for 20 s (one commit each). Now it works in
slices of a few milliseconds and the request runs again on the worker's
next turn. With one worker, one client posts that request and another
session's NOOP must be answered before the JMAP response is sent (the
check is structural, as in test_imap_search_slices). The answer is whole:
every message has its threadId, replies share their parent's."""
import base64
import json
import select
import socket
import time
import urllib.request

from conftest import HOST
from test_imap_search_slices import Raw

N_MESSAGES = 800


def multiappend(raw, msgs):
    parts = b"".join(b" {%d+}\r\n%s" % (len(m), m) for m in msgs)
    raw.s.sendall(b"a APPEND INBOX" + parts + b"\r\n")
    line = raw.read_tagged(b"a")
    assert b"a OK" in line, line


def post(f, body):
    token = base64.b64encode(("%s:%s" % (f.user, f.password)).encode())
    s = socket.create_connection((HOST, f.ports["http"]), timeout=120)
    s.sendall(b"POST /jmap/api HTTP/1.1\r\nHost: x\r\nAuthorization: Basic %s\r\n"
              b"Content-Type: application/json\r\nContent-Length: %d\r\n\r\n%s"
              % (token, len(body), body))
    return s


def read_response(s):
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = s.recv(65536)
        assert chunk, data
        data += chunk
    head, rest = data.split(b"\r\n\r\n", 1)
    length = int([h.split(b":")[1] for h in head.split(b"\r\n")
                  if h.lower().startswith(b"content-length:")][0])
    while len(rest) < length:
        chunk = s.recv(65536)
        assert chunk
        rest += chunk
    return head, json.loads(rest[:length])


def test_thread_sync_yields_to_other_session(make_facteur):
    f = make_facteur(extra_config="workers = 1")
    raw = Raw(f)
    msgs = []
    for i in range(N_MESSAGES):
        refs = "In-Reply-To: <t%d@example.org>\r\n" % (i - 1) if i % 2 else ""
        msgs.append(("From: a@example.org\r\nTo: demo@example.test\r\nSubject: %sthread %d\r\n"
                     "Message-ID: <t%d@example.org>\r\n%s\r\nbody %d\r\n"
                     % ("Re: " if i % 2 else "", i - i % 2, i, refs, i)).encode())
    for k in range(0, N_MESSAGES, 200):
        multiappend(raw, msgs[k:k + 200])
    other = Raw(f)
    # The credentials are checked (and cached) by a request that does not
    # thread: the measured request does no password check.
    token = base64.b64encode(("%s:%s" % (f.user, f.password)).encode()).decode()
    req = urllib.request.Request("http://%s:%d/jmap/session" % (HOST, f.ports["http"]),
                                 headers={"Authorization": "Basic " + token})
    with urllib.request.urlopen(req, timeout=60) as r:
        account = list(json.load(r)["accounts"])[0]

    query = {"using": ["urn:ietf:params:jmap:core", "urn:ietf:params:jmap:mail"],
             "methodCalls": [
                 ["Email/query", {"accountId": account, "limit": 500}, "q"],
                 ["Email/get", {"accountId": account,
                                "#ids": {"resultOf": "q", "name": "Email/query", "path": "/ids"},
                                "properties": ["threadId", "messageId"]}, "g"]]}
    s = post(f, json.dumps(query).encode())
    # The NOOP comes once the worker is on the request (a fast machine
    # threads the 800 messages in well under a second, never in 20 ms).
    time.sleep(0.02)
    other.cmd(b"n NOOP", b"n")
    answered = select.select([s], [], [], 0)[0]
    assert not answered, "the NOOP waited for the whole JMAP request"
    head, body = read_response(s)
    assert head.startswith(b"HTTP/1.1 200"), head
    assert "list" in body["methodResponses"][1][1], body["methodResponses"]
    emails = body["methodResponses"][1][1]["list"]
    assert len(emails) == 500, body
    thread = {e["messageId"][0]: e["threadId"] for e in emails}
    pairs = 0
    for i in range(1, N_MESSAGES, 2):
        reply, parent = "t%d@example.org" % i, "t%d@example.org" % (i - 1)
        if reply in thread and parent in thread:
            assert thread[reply] == thread[parent]
            pairs += 1
    assert pairs > 200
    assert len(set(thread.values())) < 300
    s.close()
    other.s.close()
    raw.s.close()
