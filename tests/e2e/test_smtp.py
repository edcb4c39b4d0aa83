# SPDX-License-Identifier: MIT
"""The MX listener (listen.smtp) against smtplib, swaks and raw sockets:
delivery to a local account and download over POP3 (STLS and implicit TLS),
rejection of unknown users and relaying, the size, recipient and line
limits, SMTP smuggling and STARTTLS command injection."""
import subprocess

import pytest

from conftest import (HOST, RawLine, make_message, pop3_fetch_all, send_mx, smtp_client,
                      split_message)


def assert_delivered_intact(raw, original):
    """raw is the message as POP3 returns it: the original, byte for byte,
    with trace headers (Return-Path, Received) prepended and nothing else."""
    assert raw.endswith(original), "body or headers altered:\n%r" % raw[:2000]
    added = raw[:len(raw) - len(original)]
    assert added.startswith(b"Return-Path:"), added
    assert b"\r\nReceived:" in added, added
    assert split_message(raw)[1] == split_message(original)[1]


@pytest.mark.parametrize("mode", ["stls", "tls"])
def test_smtplib_delivery_then_pop3(facteur, mode):
    body = "Line one.\r\n.leading dot\r\n..two dots\r\n\r\nTrailing  spaces  \r\n"
    msg = make_message("smtplib " + mode, body=body)
    assert send_mx(facteur, msg) == {}
    msgs = pop3_fetch_all(facteur, mode)
    assert len(msgs) == 1
    assert_delivered_intact(msgs[0], msg)
    assert msgs[0].startswith(b"Return-Path: <sender@example.org>")


def test_null_sender_gets_empty_return_path(facteur):
    msg = make_message("bounce", sender="")
    with smtp_client(facteur) as s:
        s.ehlo()
        assert s.mail("<>")[0] == 250
        assert s.rcpt("demo@example.test")[0] == 250
        assert s.data(msg)[0] == 250
    (raw,) = pop3_fetch_all(facteur)
    assert raw.startswith(b"Return-Path: <>")


def test_swaks_delivery(facteur, tmp_path):
    r = subprocess.run(["swaks", "--server", HOST, "--port", str(facteur.ports["smtp"]),
                        "--ehlo", "client.example", "--from", "swaks@example.org",
                        "--to", "demo@example.test", "--header", "Subject: via swaks",
                        "--body", "swaks body\n"],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stdout + r.stderr
    (raw,) = pop3_fetch_all(facteur)
    assert b"Subject: via swaks" in raw
    assert b"swaks body" in split_message(raw)[1]


def test_swaks_starttls_on_mx(facteur):
    r = subprocess.run(["swaks", "--server", HOST, "--port", str(facteur.ports["smtp"]),
                        "--ehlo", "client.example", "--tls", "--from", "swaks@example.org",
                        "--to", "demo@example.test", "--header", "Subject: swaks tls"],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stdout + r.stderr
    assert len(pop3_fetch_all(facteur)) == 1


def test_unknown_user_is_550_at_rcpt(facteur):
    with smtp_client(facteur) as s:
        s.ehlo()
        assert s.mail("sender@example.org")[0] == 250
        code, text = s.rcpt("nobody@example.test")
        assert code == 550, text
        assert s.rcpt("demo@example.test")[0] == 250


def test_relay_denied_for_unauthenticated_client(facteur):
    with smtp_client(facteur) as s:
        s.ehlo()
        assert s.mail("sender@example.org")[0] == 250
        code, text = s.rcpt("victim@remote.example")
        assert code in (550, 554), text
        # Our own domain in the sender does not open the relay either.
        s.rset()
        code, text = s.mail("demo@example.test")
        assert code in (250, 550, 553), text
        if code == 250:
            code, text = s.rcpt("victim@remote.example")
            assert code in (550, 554), text
    assert "victim@remote.example" not in facteur.cli("queue", "list").stdout


def test_max_message_size(make_facteur):
    f = make_facteur(extra_config="max_message_size = 64K")
    with smtp_client(f) as s:
        code, _ = s.ehlo()
        assert code == 250
        assert s.has_extn("size")
        assert int(s.esmtp_features["size"]) == 65536
        # Announced too big: refused at MAIL.
        code, text = s.mail("sender@example.org", ["SIZE=100000"])
        assert code == 552, text
    # Not announced: refused after the data.
    big = make_message("big", body=("x" * 998 + "\r\n") * 70)
    with smtp_client(f) as s:
        s.ehlo()
        s.esmtp_features.pop("size", None)  # do not let smtplib add SIZE=
        assert s.mail("sender@example.org")[0] == 250
        assert s.rcpt("demo@example.test")[0] == 250
        code, text = s.data(big)  # data() returns the final reply, it does not raise
        assert code == 552, text
        # The session survives and a message under the limit still goes.
        assert s.noop()[0] == 250
    small = make_message("small", body=("y" * 998 + "\r\n") * 50)
    assert send_mx(f, small) == {}
    msgs = pop3_fetch_all(f)
    assert len(msgs) == 1 and msgs[0].endswith(small)


def test_max_recipients(make_facteur):
    f = make_facteur(extra_config="max_recipients = 3", start=False)
    for i in range(4):
        f.add_user("u%d@example.test" % i, "password-%d" % i)
    f.start()
    with smtp_client(f) as s:
        s.ehlo()
        assert s.mail("sender@example.org")[0] == 250
        for i in range(3):
            assert s.rcpt("u%d@example.test" % i)[0] == 250
        code, text = s.rcpt("u3@example.test")
        assert code == 452, text
        assert s.data(make_message("three"))[0] == 250
    for i in range(3):
        assert len(pop3_fetch_all(f, user="u%d@example.test" % i, password="password-%d" % i)) == 1
    assert pop3_fetch_all(f, user="u3@example.test", password="password-3") == []


def test_recipients_past_the_cap_keep_the_transaction(facteur):
    """150 pipelined recipients against max_recipients = 100: the 50 extra
    get 452 4.5.3, which is not an error (RFC 5321 4.5.3.1.10), so the
    session is not dropped and the message goes to the 100 accepted."""
    c = RawLine(facteur.ports["smtp"], timeout=20)
    assert c.smtp_reply()[0] == 220
    assert c.smtp_cmd("EHLO client.example")[0] == 250
    c.send("MAIL FROM:<a@example.org>\r\n" + "RCPT TO:<demo@example.test>\r\n" * 150 +
           "DATA\r\n")
    codes = [c.smtp_reply()[0] for _ in range(1 + 150 + 1)]
    assert codes == [250] + [250] * 100 + [452] * 50 + [354], codes
    c.send("Subject: many\r\n\r\nhi\r\n.\r\n")
    assert c.smtp_reply()[0] == 250
    assert c.smtp_cmd("QUIT")[0] == 221
    c.close()
    assert len(pop3_fetch_all(facteur)) == 1


def test_bare_postmaster_is_accepted(facteur):
    """RFC 5321 4.5.1: RCPT TO:<postmaster> without a domain must be
    accepted; it reaches the primary domain's postmaster, an alias `init`
    points at the demo account."""
    assert "postmaster@example.test" in facteur.cli("alias", "list").stdout
    msg = make_message("to the postmaster", to="postmaster")
    with smtp_client(facteur) as s:
        s.ehlo()
        assert s.mail("sender@example.org")[0] == 250
        code, text = s.rcpt("<Postmaster>")
        assert code == 250, text
        assert s.data(msg)[0] == 250
    (raw,) = pop3_fetch_all(facteur)
    assert raw.endswith(msg)


def test_nul_in_data_is_refused(facteur):
    """A NUL byte in DATA is refused with 550 5.6.0 at the end of the
    message, as bare CR/LF are; nothing is delivered or relayed."""
    c = RawLine(facteur.ports["smtp"], timeout=10)
    assert c.smtp_reply()[0] == 220
    assert c.smtp_cmd("EHLO client.example")[0] == 250
    assert c.smtp_cmd("MAIL FROM:<sender@example.org>")[0] == 250
    assert c.smtp_cmd("RCPT TO:<demo@example.test>")[0] == 250
    assert c.smtp_cmd("DATA")[0] == 354
    c.send(b"Subject: nul\r\n\r\nbefore\x00after\r\n.\r\n")
    code, lines = c.smtp_reply()
    assert code == 550 and b"5.6.0" in lines[0], lines
    assert c.smtp_cmd("QUIT")[0] == 221
    c.close()
    assert pop3_fetch_all(facteur) == []


def test_line_too_long_is_500(facteur):
    c = RawLine(facteur.ports["smtp"])
    assert c.smtp_reply()[0] == 220
    assert c.smtp_cmd("EHLO client.example")[0] == 250
    code, lines = c.smtp_cmd("NOOP " + "x" * 5000)  # smtp_max_line is 4096
    assert code == 500, lines
    # The over-long line was skipped whole, not executed in pieces.
    code, lines = c.smtp_cmd("NOOP")
    assert code == 250, lines
    c.close()


def test_bare_lf_in_command_rejected(facteur):
    c = RawLine(facteur.ports["smtp"])
    c.smtp_reply()
    code, lines = c.smtp_cmd("EHLO client.example")
    assert code == 250
    c.send("NOOP\n")
    code, lines = c.smtp_reply()
    assert 500 <= code < 600, lines
    c.close()


SMUGGLE_ENDINGS = [b"\n.\n", b"\r\n.\n", b"\n.\r\n", b"\r.\r\n"]


@pytest.mark.parametrize("ending", SMUGGLE_ENDINGS, ids=["lf.lf", "crlf.lf", "lf.crlf", "cr.crlf"])
def test_smtp_smuggling(facteur, ending):
    c = RawLine(facteur.ports["smtp"], timeout=5)
    assert c.smtp_reply()[0] == 220
    assert c.smtp_cmd("EHLO client.example")[0] == 250
    assert c.smtp_cmd("MAIL FROM:<sender@example.org>")[0] == 250
    assert c.smtp_cmd("RCPT TO:<demo@example.test>")[0] == 250
    assert c.smtp_cmd("DATA")[0] == 354
    c.send(b"From: <sender@example.org>\r\nSubject: carrier\r\n\r\nInnocent text." + ending +
           b"MAIL FROM:<admin@example.test>\r\nRCPT TO:<demo@example.test>\r\nDATA\r\n"
           b"From: <admin@example.test>\r\nSubject: smuggled\r\n\r\nsmuggled\r\n.\r\n")
    replies = []
    try:
        replies.append(c.smtp_reply())
        while not c.nothing_pending(1.0):
            replies.append(c.smtp_reply())
    except ConnectionError:
        pass
    # One reply to the one DATA: a 250 or a rejection; never 250 250 250 354 250.
    assert len(replies) <= 1, replies
    try:
        c.smtp_cmd("QUIT")
    except (ConnectionError, OSError):
        pass
    c.close()
    msgs = pop3_fetch_all(facteur)
    assert len(msgs) == (1 if replies and replies[0][0] == 250 else 0), msgs
    for m in msgs:
        head, _ = split_message(m)
        assert b"Subject: carrier" in head
        assert b"Subject: smuggled" not in head, m


def test_starttls_injection(facteur):
    c = RawLine(facteur.ports["smtp"], timeout=5)
    assert c.smtp_reply()[0] == 220
    code, lines = c.smtp_cmd("EHLO client.example")
    assert code == 250 and any(b"STARTTLS" in l for l in lines), lines
    c.send("STARTTLS\r\nEHLO evil\r\n")
    code, lines = c.smtp_reply()
    assert code == 220, lines
    c.starttls(facteur.tls_context())
    # The injected EHLO was plaintext sent before the handshake: it must be
    # discarded, so nothing at all arrives until we speak.
    assert c.nothing_pending(1.5), "server answered a command injected before TLS"
    code, lines = c.smtp_cmd("NOOP")
    assert code == 250, lines
    assert c.nothing_pending(1.0), "more than one reply to NOOP"
    # After STARTTLS the session starts over (RFC 3207): EHLO again works.
    code, lines = c.smtp_cmd("EHLO client.example")
    assert code == 250
    assert not any(b"STARTTLS" in l for l in lines), lines
    c.smtp_cmd("QUIT")
    c.close()


def test_pipelined_transaction(facteur):
    """PIPELINING: the whole transaction in one write, replies in order."""
    c = RawLine(facteur.ports["smtp"], timeout=10)
    c.smtp_reply()
    code, lines = c.smtp_cmd("EHLO client.example")
    assert any(b"PIPELINING" in l for l in lines), lines
    c.send("MAIL FROM:<a@example.org>\r\nRCPT TO:<demo@example.test>\r\n"
           "RCPT TO:<nobody@example.test>\r\nDATA\r\n")
    assert [c.smtp_reply()[0] for _ in range(4)] == [250, 250, 550, 354]
    c.send("Subject: piped\r\n\r\nhi\r\n.\r\nQUIT\r\n")
    assert c.smtp_reply()[0] == 250
    assert c.smtp_reply()[0] == 221
    c.close()
    (raw,) = pop3_fetch_all(facteur)
    assert b"Subject: piped" in raw
