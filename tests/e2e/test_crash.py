# SPDX-License-Identifier: MIT
"""Durability and shutdown. kill -9 in the middle of a burst of SMTP
deliveries (and of IMAP APPENDs, which go through the same store writer)
must lose no message that got its 250 (its OK) and duplicate none
(DESIGN.md principle 7); SIGTERM with clients connected must stop the
daemon cleanly (exit 0) within seconds, without delivering a half-received
message or applying a POP3 DELE that was never committed by QUIT."""
import imaplib
import signal
import socket
import subprocess
import threading
import time

from conftest import (BIN, HOST, RawLine, header_values, make_message, pop3_client,
                      pop3_retr_all, smtp_client)

THREADS = 6
PER_THREAD = 300


def sender(f, tid, acked, stop, per_thread=PER_THREAD, body=None):
    """Send per_thread messages on one connection, recording each 250."""
    try:
        s = smtp_client(f, timeout=30)
        s.ehlo()
        for i in range(per_thread):
            if stop.is_set():
                return
            mid = "<crash-%s-%d@client.example>" % (tid, i)
            if body is None:
                msg = make_message("crash %s %d" % (tid, i), msgid=mid)
            else:
                msg = make_message("crash %s %d" % (tid, i), body=body, msgid=mid)
            s.mail("sender@example.org")
            s.rcpt("demo@example.test")
            code, _ = s.data(msg)  # raises unless 250
            if code == 250:
                acked.append(mid)
        s.quit()
    except Exception:
        # The daemon died under us: whatever was in flight has no 250.
        return


def message_ids(f):
    p = pop3_client(f, "stls", timeout=120)
    try:
        msgs = pop3_retr_all(p)
    finally:
        p.quit()
    ids = []
    for m in msgs:
        v = header_values(m, "Message-ID")
        assert len(v) == 1, m[:1000]
        ids.append(v[0].decode())
    return ids


def kill_mid_stream(f, round_no, threads=THREADS, per_thread=PER_THREAD, body=None,
                    seconds=1.5):
    """Run the senders, kill -9 the daemon mid-stream; return the 250'd ids."""
    acked, stop = [], threading.Event()
    ts = [threading.Thread(target=sender,
                           args=(f, "%d-%d" % (round_no, t), acked, stop, per_thread, body))
          for t in range(threads)]
    for t in ts:
        t.start()
    # Kill after a while, or earlier once half the load is acknowledged (a
    # fast release build), so that the kill never lands after the end.
    deadline = time.time() + seconds
    while time.time() < deadline and len(acked) < threads * per_thread // 2:
        time.sleep(0.01)
    assert f.kill9() == -signal.SIGKILL
    stop.set()
    for t in ts:
        t.join(60)
    assert len(set(acked)) == len(acked)
    assert acked, "no message was acknowledged before the kill:\n" + f.logs()[-3000:]
    assert len(acked) < threads * per_thread, "the kill came after the whole load"
    return set(acked)


def check_present_once(f, acked_ids, round_no):
    """After a restart: every acknowledged message is there exactly once."""
    ids = message_ids(f)
    counts = {}
    for i in ids:
        counts[i] = counts.get(i, 0) + 1
    dups = sorted(i for i, c in counts.items() if c > 1)
    missing = sorted(acked_ids - counts.keys())
    assert not missing, "round %d: %d acknowledged messages lost, e.g. %s" % (
        round_no, len(missing), missing[:5])
    assert not dups, "round %d: %d messages delivered twice, e.g. %s" % (
        round_no, len(dups), dups[:5])
    assert all(i.startswith("<crash-") for i in ids)
    return ids


def check_bodies(f, body):
    """Every message in the mailbox ends with the whole body."""
    p = pop3_client(f, "stls", timeout=120)
    try:
        for m in pop3_retr_all(p):
            assert m.rstrip(b"\r\n").endswith(body.encode().rstrip(b"\r\n")), m[:300]
    finally:
        p.quit()


def test_kill9_loses_nothing_acknowledged(make_facteur):
    f = make_facteur()
    acked_ids = set()
    for round_no in range(3):
        acked_ids |= kill_mid_stream(f, round_no)
        f.start()
        ids = check_present_once(f, acked_ids, round_no)
        print("kill -9 round %d: %d acknowledged so far, %d present after restart"
              % (round_no, len(acked_ids), len(ids)))
    # The restarted daemon works normally.
    with smtp_client(f) as s:
        s.sendmail("sender@example.org", ["demo@example.test"],
                   make_message("after", msgid="<after@client.example>"))
    assert "<after@client.example>" in message_ids(f)
    assert f.stop() == 0


def test_kill9_during_large_batches(make_facteur):
    """Many parallel sessions with 50 KiB messages: the store writer's
    batches are large (many messages, several MiB of blob journal each)
    when the kill lands. After each restart (which replays the journal),
    every 250'd message is present exactly once, and its body is whole."""
    f = make_facteur()
    line = "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ-=\r\n"
    body = line * (50 * 1024 // len(line))
    acked_ids = set()
    for round_no in range(2):
        acked_ids |= kill_mid_stream(f, round_no, threads=48, per_thread=40, body=body,
                                     seconds=2.5)
        f.start()
        ids = check_present_once(f, acked_ids, round_no)
        print("large batches, round %d: %d acknowledged so far, %d present"
              % (round_no, len(acked_ids), len(ids)))
    check_bodies(f, body)
    assert f.stop() == 0


def appender(f, tid, acked, stop, body, per_thread=40):
    """APPEND per_thread messages on one IMAP session, recording each OK."""
    try:
        m = imaplib.IMAP4(HOST, f.ports["imap"], timeout=30)
        m.login(f.user, f.password)
        for i in range(per_thread):
            if stop.is_set():
                return
            mid = "<crash-append-%s-%d@client.example>" % (tid, i)
            msg = make_message("append %s %d" % (tid, i), body=body, msgid=mid)
            typ, _ = m.append("INBOX", r"(\Flagged)", None, msg)
            if typ == "OK":
                acked.append(mid)
    except (OSError, EOFError, imaplib.IMAP4.error):
        # The daemon died under us: whatever was in flight has no OK.
        return


def test_kill9_during_imap_appends(make_facteur):
    """IMAP APPEND commits through the store writer too: 16 sessions
    APPENDing 50 KiB messages while 32 SMTP sessions deliver, so the
    batches being committed when the kill lands mix both. After each
    restart every OK'd APPEND (and every 250'd delivery) is present exactly
    once, whole."""
    f = make_facteur()
    line = "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ-=\r\n"
    body = line * (50 * 1024 // len(line))
    acked_ids = set()
    for round_no in range(2):
        appended, stop = [], threading.Event()
        ts = [threading.Thread(target=appender,
                               args=(f, "%d-%d" % (round_no, t), appended, stop, body))
              for t in range(16)]
        for t in ts:
            t.start()
        acked_ids |= kill_mid_stream(f, round_no, threads=32, per_thread=40, body=body,
                                     seconds=2.5)
        stop.set()
        for t in ts:
            t.join(60)
        assert appended, "no APPEND was acknowledged before the kill:\n" + f.logs()[-3000:]
        assert len(set(appended)) == len(appended)
        acked_ids |= set(appended)
        f.start()
        ids = check_present_once(f, acked_ids, round_no)
        print("IMAP appends, round %d: %d acknowledged so far (%d APPENDs), %d present"
              % (round_no, len(acked_ids), len(appended), len(ids)))
    check_bodies(f, body)
    # The flag given with APPEND is durable with the message.
    m = imaplib.IMAP4(HOST, f.ports["imap"], timeout=30)
    m.login(f.user, f.password)
    m.select("INBOX", readonly=True)
    typ, data = m.search(None, "FLAGGED")
    assert typ == "OK"
    assert len(data[0].split()) >= len([i for i in acked_ids if "append" in i])
    m.logout()
    assert f.stop() == 0


def test_sigterm_with_clients_connected(make_facteur):
    f = make_facteur()
    with smtp_client(f) as s:
        s.sendmail("sender@example.org", ["demo@example.test"],
                   make_message("kept", msgid="<kept@client.example>"))
    idle_smtp = smtp_client(f)
    idle_smtp.ehlo()
    mid_data = RawLine(f.ports["smtp"])
    mid_data.smtp_reply()
    mid_data.smtp_cmd("EHLO client.example")
    mid_data.smtp_cmd("MAIL FROM:<sender@example.org>")
    mid_data.smtp_cmd("RCPT TO:<demo@example.test>")
    assert mid_data.smtp_cmd("DATA")[0] == 354
    mid_data.send("Message-ID: <half@client.example>\r\nSubject: half\r\n\r\npartial body\r\n")
    pop = pop3_client(f, "tls")
    pop.dele(1)  # never committed: no QUIT
    silent = RawLine(f.ports["submission"])  # connected, greeting unread
    time.sleep(0.3)

    t0 = time.time()
    f.proc.send_signal(signal.SIGTERM)
    rc = f.proc.wait(10)
    elapsed = time.time() - t0
    f.proc = None
    f.log.close()
    assert rc == 0, f.logs()[-3000:]
    assert elapsed < 5, "stop took %.1f s" % elapsed
    for c in (mid_data, silent):
        c.close()
    for c in (idle_smtp.sock, pop.sock):
        try:
            c.close()
        except OSError:
            pass

    f.start()
    p = pop3_client(f)
    ids = [header_values(m, "Message-ID")[0] for m in pop3_retr_all(p)]
    p.quit()
    assert ids == [b"<kept@client.example>"]
    assert f.stop() == 0


def test_sigterm_right_after_start(make_facteur):
    """A stop requested while the daemon is still starting (the listeners
    already accept) must not be lost: systemd may stop a unit at any time.
    Dying of the signal before its handling is set up is acceptable; going
    on serving is not. The delay after the first accepted connection varies
    to sweep the start-up sequence."""
    f = make_facteur(start=False)
    for attempt in range(40):
        f.log = open(f.log_path, "ab")
        f.proc = subprocess.Popen([BIN, "-c", f.conf, "serve"], stdout=f.log, stderr=f.log)
        deadline = time.time() + 20
        while True:
            assert f.proc.poll() is None, f.logs()[-3000:]
            try:
                socket.create_connection((HOST, f.ports["smtp"]), 0.2).close()
                break
            except OSError:
                assert time.time() < deadline, f.logs()[-3000:]
                time.sleep(0.001)
        time.sleep(attempt * 0.0005)
        f.proc.send_signal(signal.SIGTERM)
        try:
            rc = f.proc.wait(10)
        except subprocess.TimeoutExpired:
            f.proc.kill()
            f.proc.wait()
            rc = "hung"
        f.proc = None
        f.log.close()
        assert rc in (0, -signal.SIGTERM), "attempt %d: exit %r after SIGTERM during start-up:\n%s" % (
            attempt, rc, f.logs()[-3000:])
