# SPDX-License-Identifier: MIT
"""The search and sort extensions of issue 8 part 3 with Python's imaplib
(raw commands through _simple_command): WITHIN (RFC 5032), SORT=DISPLAY
(RFC 5957), ESORT, PARTIAL and CONTEXT=SEARCH/SORT updates (RFC 5267), PREVIEW
(RFC 8970), and the BAD/NO answers to their malformed forms. Messages are APPENDed with chosen internal dates."""
import imaplib
import time

import pytest

from conftest import HOST

imaplib.Commands.setdefault("SORT", ("SELECTED",))
imaplib.Commands.setdefault("CANCELUPDATE", ("SELECTED",))

MESSAGES = [
    # (internal date as seconds ago, message)
    (10 * 86400,
     "From: \"Zoe Adams\" <adams@example.net>\r\nTo: Bob <zz@example.org>\r\n"
     "Subject: one\r\nMessage-ID: <e1@example.net>\r\n\r\nFirst body.\r\n"),
    (3600,
     "From: alice@example.net\r\nTo: =?UTF-8?Q?Carl?= <aa@example.org>\r\n"
     "Subject: two\r\nMessage-ID: <e2@example.net>\r\n\r\nSecond body.\r\n"),
    (60,
     "From: Mike <a@example.net>\r\nTo: Team: Dan <d@example.org>;\r\n"
     "Subject: three\r\nMessage-ID: <e3@example.net>\r\n\r\nThird body.\r\n"),
]


def login(f, select="INBOX"):
    m = imaplib.IMAP4(HOST, f.ports["imap"], timeout=10)
    assert m.login(f.user, f.password)[0] == "OK"
    if select:
        assert m.select(select)[0] == "OK"
    return m


@pytest.fixture
def mailbox(facteur):
    m = login(facteur, select=None)
    now = time.time()
    for ago, text in MESSAGES:
        typ, data = m.append("INBOX", None, imaplib.Time2Internaldate(now - ago),
                             text.encode())
        assert typ == "OK", data
    m.logout()
    return facteur


def raw(m, name, *args):
    """Run a command; return (status, its untagged ESEARCH/SEARCH/SORT data)."""
    for key in ("ESEARCH", "SEARCH", "SORT"):
        m.untagged_responses.pop(key, None)
    typ, data = m._simple_command(name, *args)
    out = {}
    for key in ("ESEARCH", "SEARCH", "SORT"):
        if key in m.untagged_responses:
            out[key] = m.untagged_responses.pop(key)
    return typ, out


def esearch_tail(m, name, *args):
    typ, out = raw(m, name, *args)
    assert typ == "OK", out
    line = out["ESEARCH"][-1].decode()
    assert line.startswith('(TAG "'), line
    return line.split(")", 1)[1].strip()


def test_capabilities(mailbox):
    m = login(mailbox, select=None)
    for cap in ("ESORT", "SORT=DISPLAY", "WITHIN", "PREVIEW", "CONTEXT=SEARCH", "CONTEXT=SORT"):
        assert cap in m.capabilities, m.capabilities
    m.logout()


def test_within(mailbox):
    m = login(mailbox)
    assert m.search(None, "YOUNGER", "7200") == ("OK", [b"2 3"])
    assert m.search(None, "OLDER", "7200") == ("OK", [b"1"])
    assert m.search(None, "YOUNGER", "10") == ("OK", [b""])
    assert m.uid("SEARCH", "OR", "OLDER", "86400", "YOUNGER", "600") == ("OK", [b"1 3"])
    assert esearch_tail(m, "SEARCH", "RETURN", "(COUNT)", "YOUNGER", "86400") == "COUNT 2"
    for args in (("YOUNGER", "0"), ("OLDER", "-1"), ("OLDER", "soon"), ("YOUNGER",)):
        with pytest.raises(imaplib.IMAP4.error, match="Invalid interval"):
            m.search(None, *args)
    m.logout()


def test_sort_display(mailbox):
    m = login(mailbox)

    def sort(crit):
        typ, data = m.sort(crit, "UTF-8", "ALL")
        assert typ == "OK", data
        return [int(x) for x in data[0].split()]
    assert sort("(FROM)") == [3, 1, 2]            # a, adams, alice
    assert sort("(DISPLAYFROM)") == [2, 3, 1]     # alice@example.net, Mike, Zoe Adams
    assert sort("(REVERSE DISPLAYFROM)") == [1, 3, 2]
    assert sort("(DISPLAYTO)") == [1, 2, 3]       # Bob, Carl, Dan
    assert sort("(TO)") == [2, 3, 1]              # aa, d, zz
    with pytest.raises(imaplib.IMAP4.error, match="Invalid sort criteria"):
        m.sort("(DISPLAY)", "UTF-8", "ALL")
    m.logout()


def test_esort_and_partial(mailbox):
    m = login(mailbox)
    assert esearch_tail(m, "SORT", "RETURN", "(MIN MAX COUNT)", "(DISPLAYFROM)", "UTF-8",
                        "ALL") == "MIN 2 MAX 1 COUNT 3"
    assert esearch_tail(m, "SORT", "RETURN", "()", "(DISPLAYFROM)", "UTF-8",
                        "ALL") == "ALL 2:3,1"
    assert esearch_tail(m, "SORT", "RETURN", "(ALL)", "(REVERSE ARRIVAL)", "UTF-8",
                        "ALL") == "ALL 3,2,1"
    typ, data = m.uid("SORT", "RETURN", "(PARTIAL 2:3)", "(DISPLAYFROM)", "UTF-8", "ALL")
    assert typ == "OK"
    line = m.untagged_responses.pop("ESEARCH")[-1].decode()
    assert line.endswith("UID PARTIAL (2:3 3,1)"), line
    assert esearch_tail(m, "SORT", "RETURN", "(PARTIAL 9:5)", "(ARRIVAL)", "UTF-8",
                        "ALL") == "PARTIAL (5:9 NIL)"
    assert esearch_tail(m, "SEARCH", "RETURN", "(PARTIAL 1:2 COUNT)",
                        "ALL") == "COUNT 3 PARTIAL (1:2 1:2)"
    assert esearch_tail(m, "SEARCH", "RETURN", "(CONTEXT MIN)", "UNSEEN") == "MIN 1"
    # No RETURN: the classic answer.
    typ, out = raw(m, "SORT", "(ARRIVAL)", "UTF-8", "ALL")
    assert typ == "OK" and out["SORT"] == [b"1 2 3"], out
    for args, why in ((("RETURN", "(PARTIAL 0:1)", "(ARRIVAL)", "UTF-8", "ALL"), "PARTIAL"),
                      (("RETURN", "(PARTIAL 1:*)", "(ARRIVAL)", "UTF-8", "ALL"), "PARTIAL"),
                      (("RETURN", "(PARTIAL 1:2 ALL)", "(ARRIVAL)", "UTF-8", "ALL"),
                       "cannot be combined"),
                      (("RETURN", "(SAVE)", "(ARRIVAL)", "UTF-8", "ALL"), "Unknown RETURN"),
                      (("RETURN", "ALL", "(ARRIVAL)", "UTF-8", "ALL"), "RETURN needs a list")):
        with pytest.raises(imaplib.IMAP4.error, match=why):
            m._simple_command("SORT", *args)
    with pytest.raises(imaplib.IMAP4.error, match="twice"):
        m._simple_command("SEARCH", "RETURN", "(PARTIAL 1:2 PARTIAL 2:3)", "ALL")
    # The session is still fine after the BADs.
    assert m.noop()[0] == "OK"
    m.logout()


PREVIEW_HTML = (
    "From: Ann <ann@example.net>\r\nTo: demo@example.test\r\nSubject: news\r\n"
    "MIME-Version: 1.0\r\nContent-Type: multipart/alternative; boundary=b\r\n\r\n"
    "--b\r\nContent-Type: text/html; charset=iso-8859-1\r\n"
    "Content-Transfer-Encoding: quoted-printable\r\n\r\n"
    "<html><head><style>body{color:red}</style></head><body><p>Ol=E9,</p>\r\n"
    "<p>the   caf&eacute; &amp; the <b>bar</b></p></body></html>\r\n"
    "--b\r\nContent-Type: text/plain\r\n\r\nplain alternative\r\n--b--\r\n")


def test_preview(mailbox):
    m = login(mailbox, select=None)
    assert "PREVIEW" in m.capabilities
    long_body = "word " * 100
    for text in (PREVIEW_HTML,
                 "From: b@example.net\r\nSubject: long\r\n\r\n" + long_body + "\r\n"):
        assert m.append("INBOX", None, None, text.encode())[0] == "OK"
    assert m.select("INBOX")[0] == "OK"
    typ, data = m.fetch("4", "(PREVIEW)")
    assert typ == "OK", data
    # A rev1 client gets the 8-bit text as a literal; &eacute; is not decoded
    # (only the common entities are), the tags and the style are gone.
    assert data[0][0].endswith(b"(PREVIEW {"+ str(len(data[0][1])).encode() + b"}")
    assert data[0][1].decode() == "Ol\u00e9, the caf&eacute; & the bar", data
    typ, data = m.uid("FETCH", "5", "(UID PREVIEW (LAZY))")
    assert typ == "OK", data
    text = data[0].decode()
    preview = text.split('PREVIEW "', 1)[1].rsplit('"', 1)[0]
    assert len(preview) == 256 and preview == long_body.strip()[:256], text
    # FETCH PREVIEW does not set \Seen.
    typ, data = m.fetch("4:5", "(FLAGS)")
    assert b"\\Seen" not in b" ".join(d for d in data if isinstance(d, bytes)), data
    for items, why in (("(PREVIEW (EAGER))", "Invalid PREVIEW modifier"),
                       ("(PREVIEW ())", "Invalid PREVIEW modifier")):
        with pytest.raises(imaplib.IMAP4.error, match=why):
            m.fetch("1", items)
    m.logout()


def test_context_update(mailbox):
    a = login(mailbox)
    b = login(mailbox)
    a.untagged_responses.pop("ESEARCH", None)
    typ, data = a.uid("SEARCH", "RETURN", "(UPDATE)", "UNSEEN")
    assert typ == "OK", data
    tag = a.untagged_responses.pop("ESEARCH")[-1].decode().split('"')[1]
    # Another session's delivery: ADDTO after EXISTS.
    assert b.append("INBOX", None, None, b"From: x@example.net\r\nSubject: new\r\n\r\nhi\r\n")[0] == "OK"
    assert a.noop()[0] == "OK"
    assert a.untagged_responses.get("EXISTS")[-1] == b"4", a.untagged_responses
    updates = [u.decode() for u in a.untagged_responses.pop("ESEARCH")]
    assert updates == ['(TAG "%s") UID ADDTO (0 4)' % tag], updates
    # Another session marks 1 and 4 \Seen: they leave the result.
    assert b.store("1,4", "+FLAGS", "\\Seen")[0] == "OK"
    assert a.noop()[0] == "OK"
    updates = [u.decode() for u in a.untagged_responses.pop("ESEARCH")]
    assert updates == ['(TAG "%s") UID REMOVEFROM (0 1,4)' % tag], updates
    # CANCELUPDATE: no more updates; unknown or unquoted tags are refused.
    typ, data = a._simple_command("CANCELUPDATE", '"%s"' % tag)
    assert typ == "OK", data
    typ, data = a._simple_command("CANCELUPDATE", '"%s"' % tag)
    assert typ == "NO" and b"[NONEXISTENT]" in data[0], data
    with pytest.raises(imaplib.IMAP4.error, match="quoted tags"):
        a._simple_command("CANCELUPDATE", tag)
    assert b.store("1", "-FLAGS", "\\Seen")[0] == "OK"
    assert a.noop()[0] == "OK"
    assert "ESEARCH" not in a.untagged_responses
    a.logout()
    b.logout()


def test_context_sort(mailbox):
    """CONTEXT=SORT: ADDTO/REMOVEFROM with positions in the sort order,
    pairs applied in order (RFC 5267 4.3.3, 4.3.4); after each change the
    client's copy, updated by the pairs, equals a fresh SORT."""
    a = login(mailbox)
    b = login(mailbox)

    def esearch(*args):
        a.untagged_responses.pop("ESEARCH", None)
        typ, data = a._simple_command(*args)
        assert typ == "OK", data
        line = a.untagged_responses.pop("ESEARCH")[-1].decode()
        return line.split('"')[1], line.split(")", 1)[1].split()

    def expand(seqset):
        vals = []
        for part in seqset.split(","):
            lo, _, hi = part.partition(":")
            vals += range(int(lo), int(hi or lo) + 1)
        return vals

    def apply(result, line):
        """Apply '(TAG "t") [UID] ADDTO|REMOVEFROM (pos set ...)' to result."""
        items = line.split(")", 1)[1].split(None, 2)
        if items[0] == "UID":
            items = items[1:] + [""]
        what, pairs = items[0], " ".join(items[1:]).strip()[1:-1].split()
        for pos, seqset in zip(pairs[0::2], pairs[1::2]):
            pos, vals = int(pos), expand(seqset)
            assert pos >= 1, line
            if what == "ADDTO":
                result[pos - 1:pos - 1] = vals
            else:
                assert result[pos - 1:pos - 1 + len(vals)] == vals, (result, line)
                del result[pos - 1:pos - 1 + len(vals)]

    by_subject = ("UID", "SORT", "RETURN", "(%s)", "(SUBJECT)", "UTF-8", "UNSEEN")
    by_arrival = ("SORT", "RETURN", "(%s)", "(REVERSE ARRIVAL)", "UTF-8", "UNSEEN")

    def fill(args, opts):
        return tuple(x % opts if "%s" in x else x for x in args)

    contexts = {}
    for args in (by_subject, by_arrival):
        tag, rest = esearch(*fill(args, "UPDATE"))
        contexts[tag] = (expand(rest[-1]), args)
    t1, t2 = list(contexts)
    assert contexts[t1][0] == [1, 3, 2]  # one, three, two
    assert contexts[t2][0] == [3, 2, 1]

    def check(expect, renumber=None):
        assert a.noop()[0] == "OK"
        updates = [u.decode() for u in a.untagged_responses.pop("ESEARCH", [])]
        assert sorted(updates) == sorted(expect), updates
        for u in updates:
            apply(contexts[u.split('"')[1]][0], u)
        if renumber is not None:  # the EXPUNGE, read after the REMOVEFROM
            res = contexts[t2][0]
            res[:] = [x - 1 if x > renumber else x for x in res]
        for result, args in contexts.values():
            assert result == expand(esearch(*fill(args, "ALL"))[1][-1]), (result, updates)

    now = time.time()
    for ago, subject in ((30, "apple"), (20, "banana"), (40, "zebra")):
        msg = ("From: n@example.net\r\nSubject: %s\r\n\r\nx\r\n" % subject).encode()
        assert b.append("INBOX", None, imaplib.Time2Internaldate(now - ago), msg)[0] == "OK"
    check(['(TAG "%s") UID ADDTO (1 4:5 6 6)' % t1, '(TAG "%s") ADDTO (1 4 1 5 3 6)' % t2])
    assert b.store("3,5", "+FLAGS", "\\Seen")[0] == "OK"
    check(['(TAG "%s") UID REMOVEFROM (4 3 2 5)' % t1, '(TAG "%s") REMOVEFROM (4 3 1 5)' % t2])
    assert b.store("3", "-FLAGS", "\\Seen")[0] == "OK"
    check(['(TAG "%s") UID ADDTO (3 3)' % t1, '(TAG "%s") ADDTO (3 3)' % t2])
    # An expunge: REMOVEFROM with the numbers known before the EXPUNGE.
    assert b.store("4", "+FLAGS", "\\Deleted")[0] == "OK" and b.expunge()[0] == "OK"
    check(['(TAG "%s") UID REMOVEFROM (1 4)' % t1, '(TAG "%s") REMOVEFROM (1 4)' % t2], 4)
    # CANCELUPDATE ends a SORT context like a SEARCH one.
    typ, data = a._simple_command("CANCELUPDATE", '"%s"' % t1, '"%s"' % t2)
    assert typ == "OK", data
    assert b.store("1", "+FLAGS", "\\Seen")[0] == "OK"
    assert a.noop()[0] == "OK"
    assert "ESEARCH" not in a.untagged_responses
    # SAVE stays refused on SORT, with UPDATE too.
    with pytest.raises(imaplib.IMAP4.error, match="RETURN option"):
        a._simple_command("SORT", "RETURN", "(UPDATE SAVE)", "(ARRIVAL)", "UTF-8", "ALL")
    a.logout()
    b.logout()
