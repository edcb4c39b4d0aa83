# SPDX-License-Identifier: MIT
"""Outbound delivery end to end. Debian's unbound, started here on a free
port of 127.0.0.1, serves a small zone; instance A (127.0.0.2) resolves
through it (dns_forward) and delivers to relay_port on whatever the MX
records name: a second facteur B on 127.0.0.3 (with its own certificate,
so STARTTLS is used), or tiny fake SMTP servers (test doubles for remote
servers that greylist or refuse) on other 127.0.0.x addresses. Checked:
delivery with both Received headers and ESMTPS, retry after 4xx, bounce on
5xx, delay notice then bounce after queue_lifetime, null MX and NXDOMAIN,
the queue CLI (show/retry/flush), no loss across kill -9, and the cost
of connections: a burst shares a few connections, an idle connection is
reused, one the server closed while idle (or closes just as it is reused)
loses and duplicates nothing, and a new connection resumes its TLS
session."""
import os
import re
import signal
import smtplib
import socketserver
import threading
import time

import pytest

from conftest import (CLIENT_NAME, Unbound, header_values, make_message, pop3_fetch_all,
                      submit, wait_for)

A_HOST = "127.0.0.2"
B_HOST = "127.0.0.3"
GREY_HOST = "127.0.0.4"
REJECT_HOST = "127.0.0.5"
DOWN_HOST = "127.0.0.6"
DROP_HOST = "127.0.0.7"

ZONE = [
    "b.test. IN MX 10 mx.b.test.",
    f"mx.b.test. IN A {B_HOST}",
    "grey.test. IN MX 5 mx.grey.test.",
    f"mx.grey.test. IN A {GREY_HOST}",
    "reject.test. IN MX 5 mx.reject.test.",
    f"mx.reject.test. IN A {REJECT_HOST}",
    f"down.test. IN A {DOWN_HOST}",      # no MX: the domain is its own host
    "null.test. IN MX 0 .",              # RFC 7505
    "drop.test. IN MX 5 mx.drop.test.",
    f"mx.drop.test. IN A {DROP_HOST}",
]


@pytest.fixture(scope="module")
def dns(tmp_path_factory):
    with Unbound(tmp_path_factory.mktemp("unbound"), ZONE) as port:
        yield port


# --- a fake remote SMTP server (test double) ---------------------------------

class FakeSMTP(socketserver.ThreadingTCPServer):
    """Answers like an MX: mode "grey" refuses the first RCPT per recipient
    with 451 then accepts; mode "reject" answers 550 to every RCPT; mode
    "drop" accepts everything but closes the connection, without a reply,
    when a RSET comes (a server whose idle timeout strikes just as the
    client reuses the connection)."""
    allow_reuse_address = True
    daemon_threads = True

    def __init__(self, host, port, mode):
        self.mode = mode
        self.connections = 0
        self.seen = set()
        self.messages = []
        self.rcpt_replies = []
        super().__init__((host, port), FakeHandler)
        threading.Thread(target=self.serve_forever, daemon=True).start()

    def close(self):
        self.shutdown()
        self.server_close()


class FakeHandler(socketserver.StreamRequestHandler):
    def reply(self, line):
        self.wfile.write(line.encode() + b"\r\n")

    def handle(self):
        srv = self.server
        srv.connections += 1
        self.reply("220 fake.test ESMTP")
        rcpts = []
        while True:
            line = self.rfile.readline(4096)
            if not line:
                return
            cmd = line.decode(errors="replace").strip()
            verb = cmd.split(" ", 1)[0].upper()
            if verb == "EHLO":
                self.wfile.write(b"250-fake.test\r\n250 8BITMIME\r\n")
            elif verb == "RSET" and srv.mode == "drop":
                return
            elif verb in ("HELO", "RSET", "NOOP"):
                rcpts = []
                self.reply("250 ok")
            elif verb == "MAIL":
                rcpts = []
                self.reply("250 2.1.0 ok")
            elif verb == "RCPT":
                addr = cmd[cmd.index("<") + 1:cmd.rindex(">")]
                if srv.mode == "reject":
                    r = "550 5.1.1 no such user here"
                elif srv.mode == "drop":
                    rcpts.append(addr)
                    r = "250 2.1.5 ok"
                elif addr not in srv.seen:
                    srv.seen.add(addr)
                    r = "451 4.7.1 greylisted, come back later"
                else:
                    rcpts.append(addr)
                    r = "250 2.1.5 ok"
                srv.rcpt_replies.append(r)
                self.reply(r)
            elif verb == "DATA":
                if not rcpts:
                    self.reply("554 5.5.1 no valid recipients")
                    continue
                self.reply("354 go ahead")
                data = b""
                while True:
                    l = self.rfile.readline(65536)
                    if not l or l == b".\r\n":
                        break
                    data += l
                srv.messages.append((rcpts, data))
                self.reply("250 2.0.0 accepted")
            elif verb == "QUIT":
                self.reply("221 bye")
                return
            else:
                self.reply("502 5.5.2 unknown")


# --- helpers -------------------------------------------------------------------

@pytest.fixture
def make_facteur(make_facteur):
    """conftest's make_facteur, plus: each instance must stop cleanly (exit
    0 on SIGTERM, so no leak report from LeakSanitizer either)."""
    made = []

    def make(*args, **kwargs):
        f = make_facteur(*args, **kwargs)
        made.append(f)
        return f
    yield make
    for f in made:
        rc = f.stop()
        assert rc in (0, None), "facteur exited with %r:\n%s" % (rc, f.logs()[-5000:])
        assert "Sanitizer" not in f.logs(), f.logs()[-5000:]


QUEUE_FAST = ("queue_retry_min = 1\nqueue_retry_max = 2\n"
              "queue_delay_notice = 3600\nqueue_lifetime = 3600\n")


def make_pair(make_facteur, dns, a_extra=QUEUE_FAST, start_b=True, b_extra=""):
    b = make_facteur("b", host=B_HOST, domain="b.test", start=start_b, extra_config=b_extra)
    a = make_facteur("a", host=A_HOST, start=False,
                     extra_config=f"dns_forward = 127.0.0.1@{dns}\n"
                                  f"relay_port = {b.ports['smtp']}\noutbound_private = yes\n" + a_extra)
    a.start()
    return a, b


def make_a(make_facteur, dns, b, extra=QUEUE_FAST):
    """A alone (B's ports only give relay_port), for tests with a fake MX."""
    return make_facteur("a", host=A_HOST, extra_config=f"dns_forward = 127.0.0.1@{dns}\n"
                        f"relay_port = {b.ports['smtp']}\noutbound_private = yes\n" + extra)


def queue_ids(f):
    return [int(l.split()[0]) for l in f.cli("queue", "list").stdout.splitlines() if l.strip()]


def inbox(f):
    return pop3_fetch_all(f)


def subjects(msgs):
    return [header_values(m, "Subject")[0].decode() for m in msgs]


# --- tests ------------------------------------------------------------------------

def test_delivery_to_remote_facteur(make_facteur, dns):
    a, b = make_pair(make_facteur, dns)
    submit(a, ["demo@b.test"], "over the wire")
    msgs = wait_for(lambda: inbox(b), timeout=20)
    assert len(msgs) == 1, b.logs()[-3000:]
    raw = msgs[0]
    assert raw.count(b"Hello across the wire.") == 1
    received = header_values(raw, "Received")
    assert len(received) == 2, received
    # B's header first (newest on top), naming A's EHLO and TLS (ESMTPS).
    assert b"by mx.b.test" in received[0] and b"mx.example.test" in received[0]
    assert b"with ESMTPS " in received[0], received[0]
    assert b"by mx.example.test" in received[1] and b"ESMTPSA" in received[1]
    assert header_values(raw, "Return-Path") == [b"<demo@example.test>"]
    assert wait_for(lambda: queue_ids(a) == [], timeout=10), a.cli("queue", "list").stdout
    assert "queue.delivered" in a.logs()


def test_loopback_destinations_refused_without_outbound_private(make_facteur, dns):
    """Without outbound_private, an MX resolving to loopback (B here) is
    never connected to, and address literals are refused at RCPT."""
    b = make_facteur("b", host=B_HOST, domain="b.test")
    a = make_facteur("a", host=A_HOST, start=False,
                     extra_config=f"dns_forward = 127.0.0.1@{dns}\n"
                                  f"relay_port = {b.ports['smtp']}\n" + QUEUE_FAST)
    a.start()
    submit(a, ["demo@b.test"], "to the inside")
    assert wait_for(lambda: "event=queue.refused_address" in a.logs(), timeout=20)
    # Refused by policy: a permanent failure, bounced to the sender at once.
    assert wait_for(lambda: queue_ids(a) == [], timeout=20), a.cli("queue", "list").stdout
    dsn = wait_for(lambda: inbox(a), timeout=20)
    assert dsn and b"outbound_private = no" in dsn[0], dsn
    assert inbox(b) == []
    with smtplib.SMTP(a.host, a.ports["submission"], local_hostname=CLIENT_NAME,
                      timeout=30) as s:
        s.starttls(context=a.tls_context())
        s.login(a.user, a.password)
        assert s.mail(a.user)[0] == 250
        for rcpt in ("v@[127.0.0.5]", "v@[IPv6:::1]", "v@[192.0.2.1]"):
            code, text = s.rcpt(rcpt)
            assert code == 550 and b"literal" in text, (rcpt, code, text)


def test_many_messages_one_destination(make_facteur, dns):
    """Several messages and recipients: one transaction per message, several
    messages per connection, all delivered once."""
    a, b = make_pair(make_facteur, dns)
    b.add_user("second@b.test", "pw-second-123")
    for i in range(6):
        submit(a, ["demo@b.test", "second@b.test"], f"batch {i}")
    assert wait_for(lambda: len(inbox(b)) == 6, timeout=30), b.logs()[-3000:]
    assert sorted(subjects(inbox(b))) == [f"batch {i}" for i in range(6)]
    second = pop3_fetch_all(b, user="second@b.test", password="pw-second-123")
    assert len(second) == 6
    assert wait_for(lambda: queue_ids(a) == [], timeout=10)


def test_greylisting_retry(make_facteur, dns):
    b = make_facteur("b", host=B_HOST, domain="b.test", start=False)
    fake = FakeSMTP(GREY_HOST, b.ports["smtp"], "grey")
    try:
        a = make_a(make_facteur, dns, b)
        submit(a, ["user@grey.test"], "greylisted")
        assert wait_for(lambda: len(fake.messages) == 1, timeout=30), a.logs()[-3000:]
        assert fake.rcpt_replies[0].startswith("451")
        rcpts, data = fake.messages[0]
        assert rcpts == ["user@grey.test"]
        assert b"Subject: greylisted" in data
        assert wait_for(lambda: queue_ids(a) == [], timeout=10)
        assert "queue.deferred" in a.logs()
        # No bounce, no delay notice (delay_notice is an hour away).
        assert inbox(a) == []
    finally:
        fake.close()


def test_permanent_failure_bounces(make_facteur, dns):
    b = make_facteur("b", host=B_HOST, domain="b.test", start=False)
    fake = FakeSMTP(REJECT_HOST, b.ports["smtp"], "reject")
    try:
        a = make_a(make_facteur, dns, b)
        submit(a, ["nobody@reject.test"], "will bounce", msgid="<bounce-me@example.test>")
        msgs = wait_for(lambda: inbox(a), timeout=20)
        assert len(msgs) == 1, a.logs()[-3000:]
        dsn = msgs[0]
        assert header_values(dsn, "Return-Path") == [b"<>"]
        ctype = b" ".join(header_values(dsn, "Content-Type"))
        assert b"multipart/report" in ctype and b"delivery-status" in ctype
        assert b"Content-Type: message/delivery-status" in dsn
        assert b"Content-Type: text/rfc822-headers" in dsn
        assert b"Final-Recipient: rfc822; nobody@reject.test" in dsn
        assert b"Action: failed" in dsn and b"Status: 5.1.1" in dsn
        assert b"Diagnostic-Code: smtp; 550 5.1.1 no such user here" in dsn
        assert b"Message-ID: <bounce-me@example.test>" in dsn  # the original's headers
        assert fake.messages == []
        assert wait_for(lambda: queue_ids(a) == [], timeout=10)
    finally:
        fake.close()


def test_unreachable_delay_notice_then_bounce(make_facteur, dns):
    b = make_facteur("b", host=B_HOST, domain="b.test", start=False)
    a = make_a(make_facteur, dns, b, "queue_retry_min = 1\nqueue_retry_max = 1\n"
               "queue_delay_notice = 2\nqueue_lifetime = 7\n")
    submit(a, ["someone@down.test"], "nobody home")
    delayed = wait_for(lambda: [m for m in inbox(a) if b"Action: delayed" in m], timeout=15)
    assert len(delayed) == 1, a.logs()[-3000:]
    assert b"Will-Retry-Until:" in delayed[0]
    assert b"Final-Recipient: rfc822; someone@down.test" in delayed[0]
    failed = wait_for(lambda: [m for m in inbox(a) if b"Action: failed" in m], timeout=20)
    assert len(failed) == 1, a.logs()[-3000:]
    assert b"Status: 4.4.7" in failed[0]
    assert wait_for(lambda: queue_ids(a) == [], timeout=5)
    # The delay notice went out once, however many retries there were.
    assert len([m for m in inbox(a) if b"Action: delayed" in m]) == 1


def test_null_mx_and_nxdomain_bounce_at_once(make_facteur, dns):
    a, b = make_pair(make_facteur, dns, start_b=False)
    submit(a, ["x@null.test"], "to null mx")
    submit(a, ["y@nx.test"], "to nowhere")
    msgs = wait_for(lambda: len(inbox(a)) == 2 and inbox(a), timeout=15)
    assert msgs, a.logs()[-3000:]
    text = b"\n".join(msgs)
    assert b"Final-Recipient: rfc822; x@null.test" in text and b"Status: 5.1.10" in text
    assert b"Final-Recipient: rfc822; y@nx.test" in text and b"Status: 5.1.2" in text
    assert queue_ids(a) == []


def test_bounce_to_remote_sender_and_no_bounce_loop(make_facteur, dns):
    """A forwarded message (alias to a remote address) from a remote sender
    fails: its bounce is queued with the null sender <> to that sender; when
    the bounce fails in turn it is dropped, never bounced again."""
    a, b = make_pair(make_facteur, dns, start_b=False)
    a.cli("alias", "add", "fwd@example.test", "x@null.test")
    with smtplib.SMTP(a.host, a.ports["smtp"], local_hostname=CLIENT_NAME, timeout=30) as s:
        msg = make_message("forwarded", sender="someone@null.test", to="fwd@example.test")
        assert s.sendmail("someone@null.test", ["fwd@example.test"], msg) == {}
    assert wait_for(lambda: a.logs().count("event=queue.bounced") >= 2, timeout=15), \
        a.logs()[-3000:]
    assert wait_for(lambda: queue_ids(a) == [], timeout=10)
    logs = a.logs()
    assert 'rcpt="x@null.test"' in logs and 'rcpt="someone@null.test"' in logs
    # One DSN only: the one for the original message.
    assert logs.count('event=queue.dsn action=failed to="someone@null.test"') == 1
    assert "to= " not in logs and 'to="" ' not in logs
    time.sleep(2.5)  # another scan: nothing new appears
    assert queue_ids(a) == [] and inbox(a) == []


def test_queue_cli_show_retry_flush(make_facteur, dns):
    a, b = make_pair(make_facteur, dns, start_b=False,
                     a_extra="queue_retry_min = 3600\nqueue_retry_max = 7200\n")
    submit(a, ["demo@b.test"], "held back")
    (qid,) = wait_for(lambda: queue_ids(a), timeout=10)
    # First attempt fails (B is down): attempts=1, next attempt an hour away.
    assert wait_for(lambda: "attempts: 1" in a.cli("queue", "show", str(qid)).stdout,
                    timeout=15), a.logs()[-3000:]
    show = a.cli("queue", "show", str(qid)).stdout
    assert "recipient: <demo@b.test>" in show and "sender: <demo@example.test>" in show
    assert "last-error:" in show and "connect" in show
    assert a.cli("queue", "show", "999999", check=False).returncode == 1
    assert a.cli("queue", "retry", "999999", check=False).returncode == 1
    assert a.cli("queue", "retry", "nope", check=False).returncode == 2
    # retry: picked up within a few seconds, fails again.
    assert "1 entry due now" in a.cli("queue", "retry", str(qid)).stdout
    assert wait_for(lambda: "attempts: 2" in a.cli("queue", "show", str(qid)).stdout,
                    timeout=15)
    # B comes up; flush delivers without waiting the hour.
    b.start()
    a.cli("queue", "flush")
    assert wait_for(lambda: len(inbox(b)) == 1, timeout=15), a.logs()[-3000:]
    assert wait_for(lambda: queue_ids(a) == [], timeout=10)


def test_smarthost_starttls_auth(make_facteur, dns):
    """smarthost: everything goes to B's submission port, STARTTLS then AUTH
    PLAIN as B's account (B is a second example.test here, so the sender is
    that account's own address); B queues it for the far recipient."""
    b = make_facteur("b", host=B_HOST)
    pwfile = os.path.join(b.dir, "relay-password")
    with open(pwfile, "w") as f:
        f.write(b.password + "\n")
    a = make_facteur("a", host=A_HOST, start=False,
                     extra_config=f"smarthost = {B_HOST}:{b.ports['submission']}\n"
                                  f"smarthost_user = {b.user}\n"
                                  f"smarthost_password_file = {pwfile}\n" + QUEUE_FAST)
    a.start()
    submit(a, ["friend@far.test"], "via the smarthost")
    assert wait_for(lambda: "<demo@example.test> -> <friend@far.test>"
                    in b.cli("queue", "list").stdout, timeout=20), a.logs()[-3000:]
    assert wait_for(lambda: queue_ids(a) == [], timeout=10)
    blog = b.logs()
    assert "listener=submission" in blog and "event=tls" in blog

    # A wrong password: nothing is lost, the entry waits with the reason.
    with open(pwfile, "w") as f:
        f.write("wrong\n")
    a.stop()
    a.start()
    submit(a, ["other@far.test"], "bad credentials")
    assert wait_for(lambda: "535" in a.cli("queue", "list").stdout, timeout=20), \
        a.logs()[-3000:]


def test_kill9_loses_nothing(make_facteur, dns):
    """Messages wait (B down), B comes up, the queue is flushed, and A is
    killed with SIGKILL while it delivers. After a restart every message
    arrives; duplicates only for the window after a remote 250."""
    a, b = make_pair(make_facteur, dns, start_b=False,
                     a_extra="queue_retry_min = 3600\nqueue_retry_max = 7200\n")
    n = 60
    msg_ids = [f"<kill9-{i}@example.test>" for i in range(n)]
    with smtplib.SMTP(a.host, a.ports["submission"], local_hostname=CLIENT_NAME,
                      timeout=30) as s:
        s.starttls(context=a.tls_context())
        s.login(a.user, a.password)
        body = ("x" * 70 + "\r\n") * 300  # some weight: delivery takes a moment
        for i in range(n):
            m = make_message(f"kill9 {i}", body=body, sender=a.user, to="demo@b.test",
                             msgid=msg_ids[i])
            assert s.sendmail(a.user, ["demo@b.test"], m) == {}
    # Every message has failed once (connection refused) and waits an hour.
    assert wait_for(lambda: a.logs().count("event=queue.deferred") >= n, timeout=30)
    b.start()
    a.cli("queue", "flush")
    killed_at = wait_for(lambda: a.logs().count("event=queue.delivered") >= 3 and
                         a.logs().count("event=queue.delivered"), timeout=20, interval=0.01)
    a.kill9()
    assert killed_at, a.logs()[-3000:]
    a.start()
    assert wait_for(lambda: queue_ids(a) == [], timeout=60), a.logs()[-3000:]
    got = [header_values(m, "Message-ID")[0].decode() for m in inbox(b)]
    missing = [m for m in msg_ids if m not in got]
    assert missing == [], (missing, a.logs()[-3000:])
    # Duplicates are possible only for the window after a remote 250.
    assert len(got) - n <= 3, len(got)


# --- connection reuse, slow start, TLS resumption -------------------------------

def tls_lines(f, event):
    """The key=value fields of each `event=EVENT` log line of f."""
    out = []
    for line in f.logs().splitlines():
        if f"event={event} " in line:
            out.append(dict(re.findall(r"(\w+)=(\"[^\"]*\"|\S+)", line)))
    return out


def test_burst_shares_connections(make_facteur, dns):
    """30 messages submitted back to back: the few connections the window
    allows carry them all (each TLS once), every message arrives once."""
    a, b = make_pair(make_facteur, dns, a_extra=QUEUE_FAST + "queue_idle_time = 5\n")
    n = 30
    with smtplib.SMTP(a.host, a.ports["submission"], local_hostname=CLIENT_NAME,
                      timeout=30) as s:
        s.starttls(context=a.tls_context())
        s.login(a.user, a.password)
        for i in range(n):
            m = make_message(f"burst {i}", sender=a.user, to="demo@b.test")
            assert s.sendmail(a.user, ["demo@b.test"], m) == {}
    assert wait_for(lambda: len(inbox(b)) == n, timeout=60), a.logs()[-3000:]
    assert sorted(subjects(inbox(b))) == sorted(f"burst {i}" for i in range(n))
    assert wait_for(lambda: queue_ids(a) == [], timeout=10)
    logs = a.logs()
    connects = logs.count("event=queue.connect ")
    handshakes = tls_lines(a, "queue.tls")
    assert logs.count("event=queue.delivered ") == n
    # The window starts at 5 and grows by one per round of deliveries.
    assert 1 <= connects <= 10, logs[-3000:]
    assert len(handshakes) == connects, logs[-3000:]
    # The first connection opens under queue_initial_per_destination's default.
    assert re.search(r"event=queue\.connect .*window=5$", logs, re.M), logs[-3000:]
    assert "event=queue.conn " not in logs and "event=queue.deferred" not in logs


def test_idle_connection_reused(make_facteur, dns):
    """A message after a pause of a second goes over the connection the
    first one used, now idle: no second TCP or TLS handshake."""
    a, b = make_pair(make_facteur, dns, a_extra=QUEUE_FAST + "queue_idle_time = 20\n")
    submit(a, ["demo@b.test"], "first")
    assert wait_for(lambda: len(inbox(b)) == 1, timeout=20), a.logs()[-3000:]
    time.sleep(1)
    submit(a, ["demo@b.test"], "second")
    assert wait_for(lambda: len(inbox(b)) == 2, timeout=20), a.logs()[-3000:]
    assert sorted(subjects(inbox(b))) == ["first", "second"]
    logs = a.logs()
    assert logs.count("event=queue.connect ") == 1, logs[-3000:]
    assert len(tls_lines(a, "queue.tls")) == 1
    assert logs.count("event=queue.delivered ") == 2
    assert "event=queue.idle_closed" not in logs


def test_idle_connection_closed_by_server(make_facteur, dns):
    """B's own idle timeout (1 s) closes the connection A keeps (20 s): A
    notices, drops it without calling it a failure, and the next message
    takes a new connection; nothing lost, nothing twice."""
    a, b = make_pair(make_facteur, dns, a_extra=QUEUE_FAST + "queue_idle_time = 20\n",
                     b_extra="smtp_timeout = 1\n")
    submit(a, ["demo@b.test"], "before the timeout")
    assert wait_for(lambda: len(inbox(b)) == 1, timeout=20), a.logs()[-3000:]
    assert wait_for(lambda: "event=queue.idle_closed" in a.logs(), timeout=10), \
        a.logs()[-3000:]
    submit(a, ["demo@b.test"], "after the timeout")
    assert wait_for(lambda: len(inbox(b)) == 2, timeout=20), a.logs()[-3000:]
    assert wait_for(lambda: queue_ids(a) == [], timeout=10)
    assert sorted(subjects(inbox(b))) == ["after the timeout", "before the timeout"]
    logs = a.logs()
    assert logs.count("event=queue.connect ") == 2
    assert logs.count("event=queue.delivered ") == 2
    assert "event=queue.deferred" not in logs and "event=queue.conn " not in logs


def test_reused_connection_gone_at_rset(make_facteur, dns):
    """The server drops the idle connection just as A reuses it (no reply to
    the RSET): the message goes over a new connection at once, not to the
    retry schedule, and arrives once."""
    b = make_facteur("b", host=B_HOST, domain="b.test", start=False)
    fake = FakeSMTP(DROP_HOST, b.ports["smtp"], "drop")
    try:
        a = make_a(make_facteur, dns, b, "queue_retry_min = 3600\nqueue_retry_max = 7200\n"
                   "queue_idle_time = 20\n")
        submit(a, ["user@drop.test"], "one")
        assert wait_for(lambda: len(fake.messages) == 1, timeout=20), a.logs()[-3000:]
        time.sleep(0.5)
        submit(a, ["user@drop.test"], "two")
        assert wait_for(lambda: len(fake.messages) == 2, timeout=20), a.logs()[-3000:]
        assert wait_for(lambda: queue_ids(a) == [], timeout=10)
        got = [re.search(rb"Subject: (\w+)", data).group(1) for _, data in fake.messages]
        assert got == [b"one", b"two"]
        logs = a.logs()
        assert "event=queue.reuse_failed" in logs and 'msg="requeued"' in logs
        assert "event=queue.deferred" not in logs
        assert logs.count("event=queue.connect ") == 2 == fake.connections
    finally:
        fake.close()


def test_tls_session_resumed(make_facteur, dns):
    """Without idle reuse (queue_idle_time = 0), each message needs a new
    connection: the first does a full TLS handshake, the next resumes the
    session B gave (resumed=yes on both sides)."""
    a, b = make_pair(make_facteur, dns, a_extra=QUEUE_FAST + "queue_idle_time = 0\n")
    submit(a, ["demo@b.test"], "full handshake")
    assert wait_for(lambda: len(inbox(b)) == 1, timeout=20), a.logs()[-3000:]
    assert wait_for(lambda: "event=queue.tls " in a.logs(), timeout=5)
    submit(a, ["demo@b.test"], "resumed handshake")
    assert wait_for(lambda: len(inbox(b)) == 2, timeout=20), a.logs()[-3000:]
    hs = tls_lines(a, "queue.tls")
    assert [h["resumed"] for h in hs] == ["no", "yes"], a.logs()[-3000:]
    assert hs[0]["host"] == hs[1]["host"] == "mx.b.test"
    assert a.logs().count("event=queue.connect ") == 2
    # B's side (its POP3 sessions for inbox() do full handshakes too).
    assert [h["resumed"] for h in tls_lines(b, "tls")].count("yes") == 1
