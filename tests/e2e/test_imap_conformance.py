# SPDX-License-Identifier: MIT
"""IMAP conformance defects found by an outside conformance run and a
comparison with Dovecot (issue 8, part 2), checked end to end with
Python's imaplib against a running facteur: \\Recent across sessions,
CREATE without subscription, '[' in mailbox names, NIL as a keyword, the
maximum ID before login, MOVE into the selected mailbox, 8-bit ENVELOPE
values as literals for IMAP4rev1, SEARCH BODY in a bounce's
delivery-status part, and FETCH racing EXPUNGE in another session (never
an empty body with OK)."""
import imaplib
import re
import threading

from conftest import HOST, make_message, send_mx

imaplib.Commands.setdefault("MOVE", ("SELECTED",))
imaplib.Commands.setdefault("ID", ("NONAUTH", "AUTH", "SELECTED"))


def connect(f):
    return imaplib.IMAP4(HOST, f.ports["imap"], timeout=30)


def login(f, select="INBOX", readonly=False):
    m = connect(f)
    assert m.login(f.user, f.password)[0] == "OK"
    if select:
        assert m.select(select, readonly=readonly)[0] == "OK"
    return m


def deliver(f, n, prefix="message"):
    for i in range(n):
        assert send_mx(f, make_message("%s %d" % (prefix, i))) == {}


def test_recent_one_session_per_message(facteur):
    deliver(facteur, 2)
    a = login(facteur, select=None)
    b = login(facteur, select=None)
    typ, data = b.status("INBOX", "(RECENT)")
    assert data[0].endswith(b"(RECENT 2)")
    assert a.select("INBOX")[0] == "OK"
    assert a.untagged_responses["RECENT"] == [b"2"]
    typ, data = a.fetch("1:*", "(FLAGS)")
    assert all(b"\\Recent" in d for d in data), data
    assert a.search(None, "RECENT")[1] == [b"1 2"]
    assert a.search(None, "NEW")[1] == [b"1 2"]
    assert b.select("INBOX")[0] == "OK"
    assert b.untagged_responses["RECENT"] == [b"0"]
    assert b.search(None, "OLD")[1] == [b"1 2"]
    # A new message goes to whichever session is told first.
    deliver(facteur, 1, "late")
    b.untagged_responses.clear()
    typ, data = b.noop()
    assert b.untagged_responses.get("RECENT") == [b"1"]
    assert b.search(None, "RECENT")[1] == [b"3"]
    a.noop()
    assert a.search(None, "RECENT")[1] == [b"1 2"]
    a.logout()
    b.logout()


def test_create_subscribe_and_names(facteur):
    m = login(facteur, select=None)
    assert m.create("Lists/Dev")[0] == "OK"
    typ, data = m.lsub('""', "Lists*")
    assert data == [None]
    assert m.subscribe("Lists/Dev")[0] == "OK"
    typ, data = m.lsub('""', "%")
    assert any(b'(\\Noselect) "/" Lists' in d for d in data), data
    # '[' is an atom character in mailbox names.
    assert m.create("a[b")[0] == "OK"
    assert m.select("a[b")[0] == "OK"
    typ, data = m.list('""', "a*")
    assert any(d.endswith(b'"/" a[b') for d in data), data
    m.logout()


def test_store_nil_keyword_and_move_into_selected(facteur):
    deliver(facteur, 3)
    m = login(facteur)
    typ, data = m.store("1", "+FLAGS", "NIL")
    assert typ == "OK" and b"NIL" in data[0]
    assert m.search(None, "KEYWORD", "NIL")[1] == [b"1"]
    m.untagged_responses.clear()
    typ, data = m.uid("MOVE", "1", "INBOX")
    assert typ == "OK", data
    code = [r for r in m.untagged_responses.get("OK", []) if b"COPYUID" in r]
    assert code and re.search(rb"COPYUID \d+ 1 4", code[0]), code
    assert m.untagged_responses.get("EXPUNGE") == [b"1"]
    assert m.untagged_responses.get("EXISTS") == [b"3"]
    assert m.uid("SEARCH", None, "ALL")[1] == [b"2 3 4"]
    typ, data = m.uid("FETCH", "4", "(FLAGS)")
    assert b"NIL" in data[0]
    m.logout()


def test_id_maximum_before_login(facteur):
    m = connect(facteur)
    pairs = " ".join('"field-%023d" "%s"' % (i, "v" * 1024) for i in range(30))
    typ, data = m._simple_command("ID", "(%s)" % pairs)
    assert typ == "OK"
    assert m.login(facteur.user, facteur.password)[0] == "OK"
    m.logout()


def test_rev1_envelope_literals(facteur):
    msg = ("From: J\u00f6rg <jorg@example.org>\r\nTo: demo@example.test\r\n"
           "Subject: caf\u00e9\r\n\r\nbody\r\n").encode()
    m = login(facteur)
    assert m.append("INBOX", None, None, msg)[0] == "OK"
    m.select("INBOX")
    typ, data = m.fetch("1", "(ENVELOPE)")
    assert typ == "OK"
    # imaplib splits literals out: the 8-bit values came as literals.
    flat = [d for d in data if isinstance(d, tuple)]
    assert flat, data
    literals = b"".join(d[1] for d in flat)
    assert "caf\u00e9".encode() in literals and "J\u00f6rg".encode() in literals
    for d in data:
        head = d[0] if isinstance(d, tuple) else d
        for q in re.findall(rb'"((?:[^"\\]|\\.)*)"', head):
            assert all(c < 0x80 for c in q), head
    m.logout()


def test_search_body_in_delivery_status(facteur):
    bounce = ("From: MAILER-DAEMON@example.org\r\nTo: demo@example.test\r\n"
              "Subject: Undelivered\r\nMIME-Version: 1.0\r\n"
              "Content-Type: multipart/report; report-type=delivery-status; boundary=r\r\n\r\n"
              "--r\r\nContent-Type: text/plain\r\n\r\nIt failed.\r\n"
              "--r\r\nContent-Type: message/delivery-status\r\n\r\n"
              "Reporting-MTA: dns; mx.example.org\r\n\r\nAction: failed\r\n--r--\r\n")
    m = login(facteur)
    assert m.append("INBOX", None, None, bounce.encode())[0] == "OK"
    m.select("INBOX")
    assert m.search(None, "BODY", "Reporting-MTA")[1] == [b"1"]
    m.logout()


def test_fetch_races_expunge(facteur):
    """A FETCH never returns an empty body with OK while another session
    expunges the messages it asks for."""
    body = "".join("line %04d of a body long enough to take a while\r\n" % i
                   for i in range(1500))
    m = login(facteur)
    for i in range(30):
        msg = ("From: x@example.org\r\nSubject: race %d\r\n\r\n%s" % (i, body)).encode()
        assert m.append("INBOX", None, None, msg)[0] == "OK"
    m.select("INBOX")
    other = login(facteur)
    stop = threading.Event()

    def expunge_all():
        for uid in range(1, 31):
            other.uid("STORE", str(uid), "+FLAGS.SILENT", "(\\Deleted)")
            other.expunge()
        stop.set()

    t = threading.Thread(target=expunge_all)
    t.start()
    rounds = 0
    while not stop.is_set() or rounds == 0:
        rounds += 1
        try:
            typ, data = m.fetch("1:*", "(BODY.PEEK[])")
        except imaplib.IMAP4.error:
            continue
        for d in data:
            if isinstance(d, tuple):
                assert len(d[1]) > 1000, d[0]
            elif d is not None:
                # "n FETCH (BODY[] NIL)" would be the defect.
                assert b"NIL" not in d, d
        m.noop()
    t.join()
    other.logout()
    m.logout()
