# SPDX-License-Identifier: MIT
"""End-to-end tests of the HTTP listeners with clients nobody here wrote:
Python's http.client and urllib (with http.cookiejar), curl, and raw sockets
for what polite clients cannot express (pipelining, smuggling attempts).
Covers keep-alive, pipelining, the smuggling refusals and limits over a real
socket, ALPN, idle timeout, the web session API (login, me, logout, cookie
flags, CSRF), Basic auth and rate limiting, auto-configuration, security
headers, static assets embedded from a tiny dist (gzip/br + 304), and
EventSource push after an SMTP delivery."""
import base64
import gzip
import http.client
import http.cookiejar
import json
import os
import shutil
import socket
import ssl
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
import xml.etree.ElementTree as ET

import pytest

import conftest
from conftest import make_message, send_mx

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Permissions-Policy": "camera=(), microphone=(), geolocation=()",
}


def https_conn(f, timeout=10):
    return http.client.HTTPSConnection(f.host, f.ports["https"], timeout=timeout,
                                       context=f.tls_context())


def http_conn(f, timeout=10):
    return http.client.HTTPConnection(f.host, f.ports["http"], timeout=timeout)


def raw(f, data, tls=False, timeout=5):
    """Send data on a fresh connection, read until the server closes."""
    s = socket.create_connection((f.host, f.ports["https" if tls else "http"]), timeout)
    if tls:
        s = f.tls_context().wrap_socket(s, server_hostname="localhost")
    s.sendall(data)
    out = b""
    try:
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            out += chunk
    except (socket.timeout, TimeoutError):
        pass
    s.close()
    return out


def basic(user, password):
    return "Basic " + base64.b64encode(("%s:%s" % (user, password)).encode()).decode()


def login(f, conn, password=None):
    conn.request("POST", "/api/login",
                 body=json.dumps({"username": f.user, "password": password or f.password}),
                 headers={"Content-Type": "application/json"})
    r = conn.getresponse()
    return r, r.read()


def test_keep_alive_and_security_headers(facteur):
    f = facteur
    c = https_conn(f)
    for path in ("/api/me", "/", "/mail/config-v1.1.xml", "/nothing.txt"):
        c.request("GET", path)
        r = c.getresponse()
        r.read()
        for k, v in SECURITY_HEADERS.items():
            assert r.getheader(k) == v, (path, k)
        assert r.getheader("Strict-Transport-Security") == "max-age=31536000"
        assert "default-src 'none'" in r.getheader("Content-Security-Policy")
        assert r.getheader("Date").endswith(" GMT")
    # All four answered on one TCP connection.
    assert c.sock is not None
    c.close()
    p = http_conn(f)
    p.request("GET", "/api/me")
    r = p.getresponse()
    r.read()
    assert r.status == 401
    assert r.getheader("Strict-Transport-Security") is None  # plain HTTP
    assert r.getheader("X-Frame-Options") == "DENY"
    p.close()


def test_pipelining_answers_in_order(facteur):
    f = facteur
    reqs = b"".join(b"GET /api/nope%d HTTP/1.1\r\nHost: h\r\n\r\n" % i for i in range(20))
    reqs += b"GET /mail/config-v1.1.xml HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n"
    out = raw(f, reqs)
    assert out.count(b"HTTP/1.1 404 ") == 20
    assert out.count(b"HTTP/1.1 200 ") == 1
    assert out.rindex(b"HTTP/1.1 404 ") < out.index(b"HTTP/1.1 200 ")
    # Same over TLS, sent in one record.
    out = raw(f, reqs, tls=True)
    assert out.count(b"HTTP/1.1 404 ") == 20 and out.endswith(b"</clientConfig>\n")


@pytest.mark.parametrize("req,status", [
    (b"POST /api/login HTTP/1.1\r\nHost: h\r\nContent-Length: 4\r\n"
     b"Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400),
    (b"POST /api/login HTTP/1.1\r\nHost: h\r\nContent-Length: 4\r\nContent-Length: 4\r\n\r\nabcd",
     400),
    (b"GET / HTTP/1.1\r\nHost: h\r\nX-A: a\r\n b\r\n\r\n", 400),
    (b"GET / HTTP/1.1\nHost: h\r\n\r\n", 400),
    (b"GET / HTTP/1.1\r\nHost: h\rX: y\r\n\r\n", 400),
    (b"POST /api/login HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", 400),
    (b"POST /api/login HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: gzip\r\n\r\n", 501),
    (b"GET / HTTP/1.1\r\n\r\n", 400),
    (b"GET / HTTP/2.0\r\nHost: h\r\n\r\n", 505),
    (b"BREW / HTTP/1.1\r\nHost: h\r\n\r\n", 501),
    (b"GET /" + b"a" * 9000 + b" HTTP/1.1\r\nHost: h\r\n\r\n", 414),
    (b"GET / HTTP/1.1\r\nHost: h\r\n" + b"X-Big: " + b"b" * 40000 + b"\r\n\r\n", 431),
    (b"POST /api/login HTTP/1.1\r\nHost: h\r\nContent-Length: 999999\r\n\r\n", 413),
], ids=["cl+te", "dup-cl", "obs-fold", "bare-lf", "bare-cr", "bad-chunk", "te-gzip", "no-host",
        "http2", "method", "uri-414", "head-431", "body-413"])
def test_refusals_close_the_connection(facteur, req, status):
    # A second request behind the bad one must never be answered.
    out = raw(facteur, req + b"GET /api/me HTTP/1.1\r\nHost: h\r\n\r\n")
    assert out.startswith(b"HTTP/1.1 %d " % status), out[:200]
    assert b"Connection: close" in out
    assert out.count(b"HTTP/1.1 ") == 1


def test_request_line_cap_before_lf(facteur):
    """An endless request line is refused without waiting for its end."""
    s = socket.create_connection((facteur.host, facteur.ports["http"]), 5)
    s.sendall(b"GET /" + b"x" * 20000)
    data = s.recv(4096)
    assert data.startswith(b"HTTP/1.1 414 ")
    s.close()


def test_curl_alpn_http2_offer_gets_http11(facteur):
    f = facteur
    r = subprocess.run(["curl", "-sv", "--http2", "--cacert", f.cert, "--resolve",
                        "localhost:%d:127.0.0.1" % f.ports["https"],
                        "https://localhost:%d/mail/config-v1.1.xml" % f.ports["https"]],
                       capture_output=True, text=True, timeout=30)
    assert r.returncode == 0, r.stderr
    assert "ALPN: server accepted http/1.1" in r.stderr or "ALPN, server accepted to use http/1.1" in r.stderr
    assert "<clientConfig" in r.stdout
    # A client that offers only h2 is refused at the handshake.
    ctx = f.tls_context()
    ctx.set_alpn_protocols(["h2"])
    with pytest.raises(ssl.SSLError):
        with socket.create_connection((f.host, f.ports["https"]), 5) as s:
            ctx.wrap_socket(s, server_hostname="localhost")
    # The IMAP listener answers no ALPN at all.
    ctx = f.tls_context()
    ctx.set_alpn_protocols(["http/1.1"])
    with socket.create_connection((f.host, f.ports["imaps"]), 5) as s:
        with ctx.wrap_socket(s, server_hostname="localhost") as t:
            assert t.selected_alpn_protocol() is None


def test_login_me_logout_cookies_csrf(facteur):
    f = facteur
    c = https_conn(f)
    r, body = login(f, c, "wrong")
    assert r.status == 401 and json.loads(body) == {"error": "invalid"}
    c.request("POST", "/api/login", body=json.dumps({"username": f.user, "password": f.password}),
              headers={"Content-Type": "text/plain"})
    r = c.getresponse()
    r.read()
    assert r.status == 415
    r, body = login(f, c)
    assert r.status == 200
    info = json.loads(body)
    assert info["username"] == f.user and info["accountId"].startswith("a")
    cookie = r.getheader("Set-Cookie")
    assert cookie.startswith("__Host-facteur=")
    for flag in ("Secure", "HttpOnly", "SameSite=Strict", "Path=/"):
        assert flag in cookie
    assert "Domain" not in cookie
    jar_value = cookie.split(";")[0]
    c.request("GET", "/api/me", headers={"Cookie": jar_value})
    r = c.getresponse()
    me = json.loads(r.read())
    assert r.status == 200 and me["csrfToken"] == info["csrfToken"]
    # The app's start-up data: the inbox's JMAP id and the session resource,
    # the same as /.well-known/jmap gives.
    c.request("GET", "/.well-known/jmap", headers={"Cookie": jar_value})
    r = c.getresponse()
    assert r.status == 200 and me["session"] == json.loads(r.read())
    assert me["session"]["apiUrl"] and me["accountId"] in me["session"]["accounts"]
    c.request("POST", urllib.parse.urlparse(me["session"]["apiUrl"]).path, headers={
        "Cookie": jar_value, "X-CSRF-Token": me["csrfToken"], "Content-Type": "application/json"},
        body=json.dumps({"using": ["urn:ietf:params:jmap:core", "urn:ietf:params:jmap:mail"],
                         "methodCalls": [["Mailbox/get", {"accountId": me["accountId"],
                                                          "ids": [me["inboxId"]]}, "0"]]}))
    r = c.getresponse()
    got = json.loads(r.read())["methodResponses"][0][1]["list"]
    assert [m["role"] for m in got] == ["inbox"]
    # And the answer to the app's first JMAP request (web/src/mail.ts
    # firstLoad): folders, the inbox's first page (query, emails, threads)
    # and identities, the same as asking for them.
    first = {call: (name, args) for name, args, call in me["first"]}
    assert [first[k][0] for k in "mqgti"] == ["Mailbox/get", "Email/query", "Email/get",
                                              "Thread/get", "Identity/get"]
    assert me["inboxId"] in [m["id"] for m in first["m"][1]["list"]]
    assert "totalThreads" not in first["m"][1]["list"][0]
    c.request("POST", urllib.parse.urlparse(me["session"]["apiUrl"]).path, headers={
        "Cookie": jar_value, "X-CSRF-Token": me["csrfToken"], "Content-Type": "application/json"},
        body=json.dumps({"using": ["urn:ietf:params:jmap:core", "urn:ietf:params:jmap:mail"],
                         "methodCalls": [["Email/query", {
                             "accountId": me["accountId"], "filter": {"inMailbox": me["inboxId"]},
                             "sort": [{"property": "receivedAt", "isAscending": False}],
                             "collapseThreads": True, "limit": 50, "calculateTotal": True}, "0"]]}))
    r = c.getresponse()
    q = json.loads(r.read())["methodResponses"][0][1]
    assert first["q"][1]["ids"] == q["ids"] and first["q"][1]["total"] == q["total"]
    assert [e["id"] for e in first["g"][1]["list"]] == q["ids"]
    # State change without the CSRF header: 403, session intact.
    c.request("POST", "/api/logout", headers={"Cookie": jar_value})
    r = c.getresponse()
    r.read()
    assert r.status == 403
    c.request("POST", "/api/logout", headers={"Cookie": jar_value,
                                              "X-CSRF-Token": info["csrfToken"]})
    r = c.getresponse()
    r.read()
    assert r.status == 204 and "Max-Age=0" in r.getheader("Set-Cookie")
    c.request("GET", "/api/me", headers={"Cookie": jar_value})
    r = c.getresponse()
    r.read()
    assert r.status == 401
    c.close()


def test_urllib_cookiejar_over_https_and_loopback_http(facteur):
    f = facteur
    for scheme, port, name in (("https", f.ports["https"], "__Host-facteur"),
                               ("http", f.ports["http"], "facteur_session")):
        jar = http.cookiejar.CookieJar()
        handlers = [urllib.request.HTTPCookieProcessor(jar)]
        if scheme == "https":
            handlers.append(urllib.request.HTTPSHandler(context=f.tls_context()))
        opener = urllib.request.build_opener(*handlers)
        base = "%s://localhost:%d" % (scheme, port)
        req = urllib.request.Request(base + "/api/login", method="POST",
                                     data=json.dumps({"username": f.user,
                                                      "password": f.password}).encode(),
                                     headers={"Content-Type": "application/json"})
        with opener.open(req, timeout=10) as r:
            csrf = json.loads(r.read())["csrfToken"]
        assert [c.name for c in jar] == [name]
        cookie = list(jar)[0]
        assert cookie.secure == (scheme == "https")
        assert cookie.has_nonstandard_attr("HttpOnly")
        with opener.open(base + "/api/me", timeout=10) as r:
            assert json.loads(r.read())["username"] == f.user
        # Password change: weak, wrong old, then the real change.
        def pw(old, new):
            rq = urllib.request.Request(base + "/api/password", method="POST",
                                        data=json.dumps({"old": old, "new": new}).encode(),
                                        headers={"Content-Type": "application/json",
                                                 "X-CSRF-Token": csrf})
            try:
                with opener.open(rq, timeout=10) as r:
                    return r.status, b""
            except urllib.error.HTTPError as e:
                return e.code, e.read()
        assert pw(f.password, "short") == (400, b'{"error":"weak"}')
        assert pw("not it", "long enough pw")[0] == 403
        new = "new-" + f.password
        assert pw(f.password, new)[0] == 204
        f.password = new


def test_basic_auth_curl_and_rate_limit(make_facteur):
    f = make_facteur(extra_config="auth_max_failures = 3\nauth_window = 60")
    url = "https://localhost:%d/.well-known/jmap" % f.ports["https"]
    resolve = ["--resolve", "localhost:%d:127.0.0.1" % f.ports["https"], "--cacert", f.cert]

    def curl(*args):
        r = subprocess.run(["curl", "-s", "-o", "/dev/null", "-D", "-", *resolve, *args, url],
                           capture_output=True, text=True, timeout=30)
        return r.stdout

    head = curl()
    assert head.startswith("HTTP/1.1 401")
    assert 'WWW-Authenticate: Basic realm="facteur"' in head
    head = curl("-u", "%s:%s" % (f.user, f.password))
    # Authenticated: JMAP answers (501 until the JMAP module replaces its placeholder).
    assert head.split()[1] in ("200", "501"), head
    for _ in range(3):
        assert curl("-u", "%s:wrong" % f.user).startswith("HTTP/1.1 401")
    head = curl("-u", "%s:wrong" % f.user)
    assert head.startswith("HTTP/1.1 429"), head
    assert "Retry-After:" in head
    # The web login is throttled by the same limiter.
    c = https_conn(f)
    r, body = login(f, c)
    assert r.status == 429 and json.loads(body) == {"error": "throttled"}
    c.close()


def test_basic_auth_sees_a_cli_password_change(facteur):
    """Basic sends the password with each request and a repeated one is
    answered from the login cache; `facteur user passwd` must still end the
    old password at once (the cache is keyed on the stored hash too)."""
    f = facteur

    def status(password):
        req = urllib.request.Request("http://127.0.0.1:%d/.well-known/jmap" % f.ports["http"],
                                     headers={"Authorization": basic(f.user, password)})
        try:
            with urllib.request.urlopen(req, timeout=10) as r:
                return r.status
        except urllib.error.HTTPError as e:
            return e.code

    assert status(f.password) == 200
    assert status(f.password) == 200  # the cached check
    f.cli("user", "passwd", f.user, "--password-stdin", input="a-new-password-42\n")
    assert status(f.password) == 401
    assert status("a-new-password-42") == 200


def test_autoconfig_names_the_ports(facteur):
    f = facteur
    for path in ("/.well-known/autoconfig/mail/config-v1.1.xml",
                 "/mail/config-v1.1.xml?emailaddress=demo%40example.test"):
        with urllib.request.urlopen("http://127.0.0.1:%d%s" % (f.ports["http"], path),
                                    timeout=10) as r:
            assert r.headers["Content-Type"].startswith("application/xml")
            root = ET.fromstring(r.read())
        servers = {(s.get("type"), s.findtext("socketType")): int(s.findtext("port"))
                   for s in root.iter() if s.tag in ("incomingServer", "outgoingServer")}
        assert servers[("imap", "SSL")] == f.ports["imaps"]
        assert servers[("imap", "STARTTLS")] == f.ports["imap"]
        assert servers[("pop3", "SSL")] == f.ports["pop3s"]
        assert servers[("smtp", "SSL")] == f.ports["submissions"]
        assert servers[("smtp", "STARTTLS")] == f.ports["submission"]
    assert root.find("emailProvider").get("id") == "example.test"
    ns = {"a": "http://schemas.microsoft.com/exchange/autodiscover/responseschema/2006",
          "o": "http://schemas.microsoft.com/exchange/autodiscover/outlook/responseschema/2006a"}
    req = (b'<?xml version="1.0"?><Autodiscover xmlns="http://schemas.microsoft.com/exchange/'
           b'autodiscover/outlook/requestschema/2006"><Request><EMailAddress>demo@example.test'
           b'</EMailAddress><AcceptableResponseSchema>http://schemas.microsoft.com/exchange/'
           b'autodiscover/outlook/responseschema/2006a</AcceptableResponseSchema></Request>'
           b'</Autodiscover>')
    for method, data in (("POST", req), ("GET", None)):
        rq = urllib.request.Request("http://127.0.0.1:%d/autodiscover/autodiscover.xml"
                                    % f.ports["http"], data=data, method=method,
                                    headers={"Content-Type": "text/xml"})
        with urllib.request.urlopen(rq, timeout=10) as r:
            root = ET.fromstring(r.read())
        protos = {p.findtext("o:Type", namespaces=ns): p
                  for p in root.iterfind(".//o:Protocol", ns)}
        assert int(protos["IMAP"].findtext("o:Port", namespaces=ns)) == f.ports["imaps"]
        assert int(protos["SMTP"].findtext("o:Port", namespaces=ns)) == f.ports["submissions"]
        assert protos["SMTP"].findtext("o:SSL", namespaces=ns) == "on"
        login_name = protos["IMAP"].findtext("o:LoginName", namespaces=ns)
        assert login_name == ("demo@example.test" if method == "POST" else None)
    # The Apple profile needs a signed-in user and carries no password.
    c = http_conn(f)
    c.request("GET", "/api/mobileconfig")
    r = c.getresponse()
    r.read()
    assert r.status == 401
    c.request("GET", "/api/mobileconfig", headers={"Authorization": basic(f.user, f.password)})
    r = c.getresponse()
    body = r.read()
    assert r.status == 200
    assert r.getheader("Content-Type") == "application/x-apple-aspen-config"
    import plistlib
    profile = plistlib.loads(body)
    mail = profile["PayloadContent"][0]
    assert mail["PayloadType"] == "com.apple.mail.managed"
    assert mail["IncomingMailServerPortNumber"] == f.ports["imaps"]
    assert mail["OutgoingMailServerPortNumber"] == f.ports["submissions"]
    assert mail["EmailAddress"] == f.user
    assert f.password.encode() not in body
    c.close()


def test_idle_timeout_closes(make_facteur):
    f = make_facteur(extra_config="http_timeout = 1")
    s = socket.create_connection((f.host, f.ports["http"]), 10)
    t0 = time.time()
    assert s.recv(100) == b""  # closed by the server
    assert time.time() - t0 < 5
    s.close()


def test_eventsource_state_after_smtp_delivery(facteur):
    f = facteur
    s = socket.create_connection((f.host, f.ports["http"]), 10)
    s.sendall(b"GET /jmap/eventsource?types=*&closeafter=no&ping=1 HTTP/1.1\r\nHost: h\r\n"
              b"Authorization: " + basic(f.user, f.password).encode() + b"\r\n\r\n")
    head = b""
    while b"\r\n\r\n" not in head:
        head += s.recv(4096)
    assert head.startswith(b"HTTP/1.1 200 ")
    assert b"Content-Type: text/event-stream\r\n" in head
    c = http_conn(f)
    c.request("GET", "/.well-known/jmap", headers={"Authorization": basic(f.user, f.password)})
    r = c.getresponse()
    r.read()
    jmap_built = r.status == 200
    # The stream pings while nothing happens.
    s.settimeout(3)
    data = head.partition(b"\r\n\r\n")[2]
    while b"event: ping" not in data:
        data += s.recv(4096)
    assert b'data: {"interval":1}' in data
    if jmap_built:
        data = b""
        send_mx(f, make_message("push"))
        t0 = time.time()
        s.settimeout(1.5)
        while b"event: state" not in data:
            data += s.recv(4096)
        assert time.time() - t0 < 1.0
        assert b'"@type":"StateChange"' in data.replace(b" ", b"")
    s.close()


# --- the embedded web application -------------------------------------------------

@pytest.fixture(scope="module")
def web_binary(tmp_path_factory):
    """A facteur linked with a tiny web/dist made here (index.html + hashed assets)."""
    d = tmp_path_factory.mktemp("web")
    dist = d / "dist"
    (dist / "assets").mkdir(parents=True)
    (dist / "index.html").write_text('<!doctype html><html><head><script type="module" '
                                     'src="/assets/app-1a2b3c.js"></script></head>'
                                     '<body><div id="app"></div></body></html>\n')
    (dist / "assets" / "app-1a2b3c.js").write_text("export const x = 1;\n" * 400)
    (dist / "assets" / "logo-9f8e7d.png").write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(100))
    bin_path = os.environ.get("FACTEUR_BIN") or os.path.join(ROOT, "build", "facteur")
    build = os.path.basename(os.path.dirname(bin_path))
    san = ["SAN=1"] if build == "build-san" else []
    r = subprocess.run(["make", "-s", *san, "WEB_DIST=%s" % dist, "WEB_GEN_DIR=%s" % d,
                        "%s/facteur" % d], cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stdout + r.stderr
    return str(d / "facteur")


@pytest.fixture
def web_facteur(tmp_path, web_binary, monkeypatch):
    monkeypatch.setattr(conftest, "BIN", web_binary)
    f = conftest.Facteur(tmp_path / "web").start()
    yield f
    assert f.stop() == 0
    conftest.assert_clean_logs(f)


def test_static_assets_compression_and_304(web_facteur):
    f = web_facteur
    c = https_conn(f)
    c.request("GET", "/", headers={"Accept-Encoding": "identity"})
    r = c.getresponse()
    body = r.read()
    assert r.status == 200 and b'<div id="app">' in body
    assert r.getheader("Cache-Control") == "no-cache"
    csp = r.getheader("Content-Security-Policy")
    assert "script-src 'self'" in csp and "frame-ancestors 'none'" in csp
    c.request("GET", "/mailbox/Inbox/42")  # an SPA route
    r = c.getresponse()
    assert b'<div id="app">' in r.read()
    js = "export const x = 1;\n" * 400
    c.request("GET", "/assets/app-1a2b3c.js", headers={"Accept-Encoding": "gzip"})
    r = c.getresponse()
    body = r.read()
    assert r.getheader("Content-Encoding") == "gzip"
    assert gzip.decompress(body).decode() == js
    assert r.getheader("Cache-Control") == "public, max-age=31536000, immutable"
    assert r.getheader("Vary") == "Accept-Encoding"
    etag = r.getheader("ETag")
    c.request("GET", "/assets/app-1a2b3c.js", headers={"Accept-Encoding": "gzip",
                                                       "If-None-Match": etag})
    r = c.getresponse()
    assert r.status == 304 and r.read() == b""
    assert r.getheader("ETag") == etag
    c.request("GET", "/assets/app-1a2b3c.js", headers={"Accept-Encoding": "br, gzip"})
    r = c.getresponse()
    body = r.read()
    assert r.getheader("Content-Encoding") == "br"
    brotli = shutil.which("brotli")
    out = subprocess.run([brotli, "-d", "-c"], input=body, capture_output=True, check=True)
    assert out.stdout.decode() == js
    c.request("HEAD", "/assets/logo-9f8e7d.png", headers={"Accept-Encoding": "gzip, br"})
    r = c.getresponse()
    assert r.read() == b""
    assert r.getheader("Content-Type") == "image/png"
    assert r.getheader("Content-Encoding") is None  # not worth compressing
    assert r.getheader("Content-Length") == "108"
    c.close()
    # curl negotiates and decodes by itself.
    out = subprocess.run(["curl", "-s", "--compressed", "--cacert", f.cert, "--resolve",
                          "localhost:%d:127.0.0.1" % f.ports["https"],
                          "https://localhost:%d/assets/app-1a2b3c.js" % f.ports["https"]],
                         capture_output=True, text=True, timeout=30)
    assert out.stdout == js


def test_init_prints_webmail_and_dns_records_srv(tmp_path):
    out = subprocess.run([conftest.BIN, "init", "--dir", str(tmp_path / "x")],
                         capture_output=True, text=True, check=True).stdout
    assert "webmail:     https://localhost:8443/" in out
    conf = open(tmp_path / "x" / "facteur.conf").read()
    assert "listen.http = 127.0.0.1:8080" in conf and "listen.https = 127.0.0.1:8443" in conf
    r = subprocess.run([conftest.BIN, "-c", str(tmp_path / "x" / "facteur.conf"), "dns-records",
                        "example.test"], capture_output=True, text=True, check=True).stdout
    host = open(tmp_path / "x" / "facteur.conf").read().split("hostname = ")[1].split()[0]
    for name, port in (("_submission", 2587), ("_submissions", 2465), ("_imap", 2143),
                       ("_imaps", 2993), ("_pop3", 2110), ("_pop3s", 2995),
                       ("_sieve", 24190), ("_autodiscover", 8443)):
        assert "%s._tcp.example.test. IN SRV 0 1 %d %s." % (name, port, host) in r, r
    assert "autoconfig.example.test. IN CNAME %s." % host in r
    assert "autodiscover.example.test. IN CNAME %s." % host in r


def test_eventsource_long_poll_ends_within_1s_of_delivery(facteur):
    """closeafter=state: the response ends at the first change of the account,
    which shows the change hub -> poll path over a real socket whatever jmap/
    puts in the event."""
    f = facteur
    s = socket.create_connection((f.host, f.ports["http"]), 10)
    s.sendall(b"GET /jmap/eventsource?types=*&closeafter=state&ping=0 HTTP/1.1\r\nHost: h\r\n"
              b"Authorization: " + basic(f.user, f.password).encode() + b"\r\n\r\n")
    head = b""
    while b"\r\n\r\n" not in head:
        head += s.recv(4096)
    assert head.startswith(b"HTTP/1.1 200 ")
    s.settimeout(0.5)
    with pytest.raises((socket.timeout, TimeoutError)):
        s.recv(4096)  # nothing happens without a change
    send_mx(f, make_message("long poll"))
    t0 = time.time()
    s.settimeout(3)
    while s.recv(4096):
        pass  # the state event (when jmap/ writes one), then the end
    assert time.time() - t0 < 1.0
    s.close()
