# SPDX-License-Identifier: MIT
"""A connection's turn budget (issue 9 item 3): with one worker, a session
that pipelines many commands that are cheap in output but dear in work
(FETCH of one header field over the whole mailbox, which opens every
message) must let another session's NOOP through between them. The check
is structural, as in test_imap_search_slices: when the NOOP's OK has
arrived, the heavy session's last tagged reply must not have been sent.
Without the time budget the worker ran up to 64 of those FETCHes in one
turn before it looked at the NOOP. Every pipelined FETCH still answers in
full."""
import time

from test_imap_search_slices import Raw, fill

N_MESSAGES = 150
HEAVY = 20


def test_pipelined_fetches_yield_to_other_session(make_facteur):
    f = make_facteur(extra_config="workers = 1")
    fill(f, N_MESSAGES, size=2000)
    heavy = Raw(f)
    other = Raw(f)
    # Small answers (about 35 bytes a message, the whole pipeline fits in
    # the socket buffers, so the server never waits for the client to
    # read), but each message is opened and decoded.
    fetch = b"FETCH 1:* (BINARY.SIZE[1])"
    r = heavy.cmd(b"h0 " + fetch, b"h0")
    assert r.count(b" FETCH (") == N_MESSAGES
    heavy.s.sendall(b"".join(b"h%d %s\r\n" % (i, fetch) for i in range(1, HEAVY + 1)))
    heavy.read_tagged(b"h1")
    t0 = time.monotonic()
    other.cmd(b"n NOOP", b"n")
    noop_s = time.monotonic() - t0
    sent = heavy.drain_now()
    assert b"h%d OK" % HEAVY not in sent, (
        "the NOOP waited for the whole pipeline (%.3f s)" % noop_s)
    for i in range(2, HEAVY + 1):
        r = heavy.read_tagged(b"h%d" % i)
        assert r.count(b" FETCH (") == N_MESSAGES and b"h%d OK" % i in r, r[-200:]
    heavy.cmd(b"z NOOP", b"z")
    other.s.close()
    heavy.s.close()
