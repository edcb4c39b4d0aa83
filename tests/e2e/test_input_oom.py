# SPDX-License-Identifier: MIT
"""A client's input the daemon cannot hold fails that client's command,
not the daemon (issue 9 item 4). The allocation failure is made
deterministic with AddressSanitizer's max_allocation_size_mb (with
allocator_may_return_null, as the C library's malloc does, a larger
allocation returns NULL): an address-space rlimit cannot be used, ASan
needs terabytes of it. Within the per-session caps (2 MiB for an IMAP
command other than APPEND, 10 MiB for a JMAP request), a buffer that must
grow past 1 MiB fails:

- IMAP: a SEARCH carrying 1.5 MB of literals gets NO [LIMIT], the same
  session goes on (NOOP), and another session is untouched;
- HTTP: a 1.5 MB JMAP request gets 503 (or the reset of the close that
  follows it), and the next request is served.

Before, both made the daemon print "out of memory" and abort."""
import base64
import os
import socket
import urllib.request

from conftest import HOST
from test_imap_search_slices import Raw

ASAN_CAP = ":allocator_may_return_null=1:max_allocation_size_mb=1"


def search_with_literals(raw, tag, n, size):
    """A SEARCH of n TEXT keys, each a synchronising literal of size bytes:
    sent piece by piece as the server asks with "+". Returns the tagged reply."""
    raw.s.sendall(tag + b" SEARCH")
    for _ in range(n):
        raw.s.sendall(b" TEXT {%d}\r\n" % size)
        line = raw.read_until(b"\r\n")
        if not line.startswith(b"+"):
            return line
        raw.s.sendall(b"q" * size)
    raw.s.sendall(b"\r\n")
    return raw.read_tagged(tag)


def jmap_post(f, size):
    token = base64.b64encode(("%s:%s" % (f.user, f.password)).encode()).decode()
    body = b'{"using":[],"methodCalls":[],"x":"' + b"j" * (size - 40) + b'"}'
    s = socket.create_connection((HOST, f.ports["http"]), timeout=60)
    try:
        s.sendall(b"POST /jmap/api HTTP/1.1\r\nHost: x\r\nAuthorization: Basic %s\r\n"
                  b"Content-Type: application/json\r\nContent-Length: %d\r\n\r\n"
                  % (token.encode(), len(body)))
        s.sendall(body)
        return s.recv(100)
    except ConnectionResetError:
        return b"reset"
    finally:
        s.close()


def test_oversized_input_fails_only_its_session(make_facteur, monkeypatch):
    monkeypatch.setenv("ASAN_OPTIONS", os.environ.get("ASAN_OPTIONS", "") + ASAN_CAP)
    f = make_facteur()
    other = Raw(f)
    heavy = Raw(f)

    # Under the cap nothing fails: 0.9 MB of literals is searched.
    r = search_with_literals(heavy, b"s1", 15, 60000)
    assert b"s1 OK" in r, r
    r = search_with_literals(heavy, b"s2", 25, 60000)
    assert r.startswith(b"s2 NO [LIMIT]"), r
    heavy.cmd(b"n1 NOOP", b"n1")
    other.cmd(b"n2 NOOP", b"n2")

    status = jmap_post(f, 1500 * 1000)
    assert status.startswith(b"HTTP/1.1 503") or status == b"reset", status
    assert "status=503" in f.logs()
    token = base64.b64encode(("%s:%s" % (f.user, f.password)).encode()).decode()
    req = urllib.request.Request(
        "http://%s:%d/jmap/api" % (HOST, f.ports["http"]),
        data=b'{"using":["urn:ietf:params:jmap:core"],"methodCalls":[["Core/echo",{"a":1},"c"]]}',
        headers={"Authorization": "Basic " + token, "Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=30) as resp:
        assert resp.status == 200
    other.cmd(b"n4 NOOP", b"n4")
    assert "out of memory" not in f.logs()
    other.s.close()
    heavy.s.close()
    assert f.stop() == 0
