# SPDX-License-Identifier: MIT
"""SEARCH, ESEARCH, SEARCHRES, SORT and THREAD with Python's imaplib over
messages delivered through SMTP with known headers and bodies (RFC 2047
subjects, quoted-printable and base64 bodies, a References chain)."""
import base64
import imaplib
import time

import pytest

from conftest import HOST, send_mx

imaplib.Commands.setdefault("MOVE", ("SELECTED",))

MESSAGES = [
    # 1: plain text, custom header
    ("From: Alice <alice@example.org>\r\nTo: demo@example.test\r\n"
     "Subject: Alpha report\r\nMessage-ID: <a1@example.org>\r\n"
     "Date: Mon, 01 Jan 2024 10:00:00 +0000\r\nX-Project: apollo\r\n\r\n"
     "The quick brown fox.\r\n"),
    # 2: encoded subject, quoted-printable UTF-8 body
    ("From: =?UTF-8?Q?J=C3=BCrgen?= <juergen@example.de>\r\nTo: demo@example.test\r\n"
     "Subject: =?UTF-8?B?R3LDvMOfZSBhdXMgS8O2bG4=?=\r\nMessage-ID: <a2@example.org>\r\n"
     "Date: Wed, 03 Jan 2024 10:00:00 +0000\r\nMIME-Version: 1.0\r\n"
     "Content-Type: text/plain; charset=utf-8\r\n"
     "Content-Transfer-Encoding: quoted-printable\r\n\r\n"
     "Sehr sch=C3=B6n hier.\r\n"),
    # 3: reply to 1, base64 body, bigger
    ("From: Bob <bob@example.org>\r\nTo: demo@example.test\r\nCc: carol@example.org\r\n"
     "Subject: Re: Alpha report\r\nMessage-ID: <a3@example.org>\r\n"
     "References: <a1@example.org>\r\nIn-Reply-To: <a1@example.org>\r\n"
     "Date: Tue, 02 Jan 2024 10:00:00 +0000\r\nMIME-Version: 1.0\r\n"
     "Content-Type: text/plain\r\nContent-Transfer-Encoding: base64\r\n\r\n"
     + base64.encodebytes(b"hidden treasure " * 100).decode().replace("\n", "\r\n")),
]


def login(f, select="INBOX"):
    m = imaplib.IMAP4(HOST, f.ports["imap"], timeout=10)
    assert m.login(f.user, f.password)[0] == "OK"
    if select:
        assert m.select(select)[0] == "OK"
    return m


@pytest.fixture
def mailbox(facteur):
    for text in MESSAGES:
        assert send_mx(facteur, text.encode()) == {}
    return facteur


def search(m, *criteria, charset=None):
    typ, data = m.search(charset, *criteria)
    assert typ == "OK", data
    return [int(x) for x in data[0].split()]


def esearch(m, *args, uid=False):
    if uid:
        typ, data = m.uid("SEARCH", *args)
    else:
        typ, data = m._simple_command("SEARCH", *args)
    assert typ == "OK", data
    return m.untagged_responses.pop("ESEARCH", [None])[-1]


def test_search_keys(mailbox):
    m = login(mailbox)
    assert search(m, "ALL") == [1, 2, 3]
    assert search(m, "SUBJECT", "alpha") == [1, 3]
    assert search(m, "FROM", "ALICE") == [1]
    assert search(m, "CC", "carol") == [3]
    assert search(m, "TO", "demo@example.test") == [1, 2, 3]
    assert search(m, "HEADER", "X-Project", "apollo") == [1]
    assert search(m, "HEADER", "References", "a1@") == [3]
    assert search(m, "BODY", "fox") == [1]
    assert search(m, "BODY", "treasure") == [3]
    assert search(m, "TEXT", "apollo") == [1]
    assert search(m, "LARGER", "1000") == [3]
    assert search(m, "SMALLER", "1000") == [1, 2]
    assert search(m, "UNSEEN") == [1, 2, 3]
    assert search(m, "SEEN") == []
    assert search(m, "OR", "FROM", "bob", "BODY", "fox") == [1, 3]
    assert search(m, "NOT", "SUBJECT", "alpha") == [2]
    assert search(m, "2:*") == [2, 3]
    assert search(m, "SENTON", "2-Jan-2024") == [3]
    assert search(m, "SENTBEFORE", "3-Jan-2024") == [1, 3]
    today = time.strftime("%d-%b-%Y", time.gmtime())
    assert search(m, "ON", today) == [1, 2, 3]
    assert search(m, "SINCE", today) == [1, 2, 3]
    assert search(m, "BEFORE", "1-Jan-2000") == []
    typ, data = m.uid("SEARCH", "SUBJECT", "alpha")
    assert typ == "OK" and data[0].split() == [b"1", b"3"]
    m.logout()


def test_search_utf8_literals(mailbox):
    m = login(mailbox)
    m.literal = "schön".encode()
    assert search(m, "BODY", charset="UTF-8") == [2]
    m.literal = "GRÜSSE".encode()  # no match: ß does not fold to ss
    assert search(m, "SUBJECT", charset="UTF-8") == []
    m.literal = "grüße".encode()
    assert search(m, "SUBJECT", charset="UTF-8") == [2]
    m.literal = "JÜRGEN".encode()
    assert search(m, "FROM", charset="UTF-8") == [2]
    typ, data = m.search("ISO-8859-1", "ALL")
    assert typ == "NO" and b"[BADCHARSET" in data[0]
    m.logout()


def test_search_bad_input(mailbox):
    m = login(mailbox)
    for crit in (("BEFORE", "32-Jan-2020"), ("FOO",), ("OR", "SEEN"), ("LARGER", "x"),
                 ("(",)):
        with pytest.raises(imaplib.IMAP4.error):
            m.search(None, *crit)
    m.logout()


def test_esearch_and_searchres(mailbox):
    m = login(mailbox)
    res = esearch(m, "RETURN", "(MIN MAX COUNT)", "ALL")
    assert res.startswith(b'(TAG "') and res.endswith(b" MIN 1 MAX 3 COUNT 3"), res
    res = esearch(m, "RETURN", "(MIN MAX COUNT)", "SUBJECT", "alpha")
    assert res.endswith(b" MIN 1 MAX 3 COUNT 2"), res
    res = esearch(m, "RETURN", "()", "NOT", "2")
    assert res.endswith(b" ALL 1,3"), res
    res = esearch(m, "RETURN", "(ALL)", "1:3", uid=True)
    assert res.endswith(b" UID ALL 1:3"), res
    assert esearch(m, "RETURN", "(COUNT)", "SUBJECT", "zzz").endswith(b" COUNT 0")
    # SAVE, then "$" in FETCH, STORE and SEARCH.
    assert esearch(m, "RETURN", "(SAVE)", "SUBJECT", "alpha") is None
    typ, data = m.fetch("$", "(UID)")
    assert typ == "OK"
    assert sorted(d for d in data if d) == [b"1 (UID 1)", b"3 (UID 3)"]
    assert m.store("$", "+FLAGS", "\\Flagged")[0] == "OK"
    assert search(m, "FLAGGED") == [1, 3]
    assert search(m, "NOT", "$") == [2]
    m.logout()


def test_sort(mailbox):
    m = login(mailbox)

    def sort(crit, *search_crit, uid=False):
        if uid:
            typ, data = m.uid("SORT", crit, "UTF-8", *(search_crit or ("ALL",)))
        else:
            typ, data = m.sort(crit, "UTF-8", *(search_crit or ("ALL",)))
        assert typ == "OK", data
        return [int(x) for x in data[0].split()]
    assert "SORT" in m.capabilities
    assert sort("(ARRIVAL)") == [1, 2, 3]
    assert sort("(REVERSE SIZE)")[0] == 3
    assert sort("(DATE)") == [1, 3, 2]
    assert sort("(SIZE)")[-1] == 3
    assert sort("(SUBJECT)") == [1, 3, 2]          # "alpha report" x2, "grüße..."
    assert sort("(SUBJECT REVERSE DATE)") == [3, 1, 2]
    assert sort("(FROM)") == [1, 3, 2]             # alice, bob, juergen
    assert sort("(REVERSE FROM)", "SUBJECT", "alpha", uid=True) == [3, 1]
    with pytest.raises(imaplib.IMAP4.error):
        m.sort("(BOGUS)", "UTF-8", "ALL")
    m.logout()


def test_thread(mailbox):
    m = login(mailbox)
    assert "THREAD=REFERENCES" in m.capabilities
    typ, data = m.thread("REFERENCES", "UTF-8", "ALL")
    assert typ == "OK" and data[0] == b"(1 3)(2)", data
    typ, data = m.thread("ORDEREDSUBJECT", "UTF-8", "ALL")
    assert typ == "OK" and data[0] == b"(1 3)(2)", data
    m.logout()
