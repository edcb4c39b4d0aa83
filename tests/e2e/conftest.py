# SPDX-License-Identifier: MIT
"""End-to-end harness: each test gets its own facteur, initialised by
`facteur init` in a temporary directory, listening on free loopback ports,
stopped (SIGTERM, then SIGKILL) afterwards. Real clients talk to it."""
import os
import re
import shutil
import signal
import socket
import ssl
import subprocess
import time

import pytest

BIN = os.environ.get("FACTEUR_BIN") or os.path.abspath(
    os.path.join(os.path.dirname(__file__), "..", "..", "build", "facteur"))
KINDS = ["smtp", "submission", "submissions", "pop3", "pop3s", "imap", "imaps", "http", "https", "managesieve"]


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def free_ports(n):
    """n distinct free ports: the sockets stay bound until all are chosen,
    or the kernel may hand the same ephemeral port out twice."""
    socks = []
    try:
        for _ in range(n):
            s = socket.socket()
            s.bind(("127.0.0.1", 0))
            socks.append(s)
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


class Facteur:
    """One facteur instance in a temporary directory."""

    def __init__(self, tmpdir, extra_config="", host="127.0.0.1", domain="example.test"):
        """host: the loopback address every listener binds (127.0.0.x: Linux
        routes all of 127/8 to lo, so several instances can pose as different
        machines, e.g. an MX at 127.0.0.3 for outbound delivery tests)."""
        self.dir = str(tmpdir)
        self.domain = domain
        self.host = host
        out = subprocess.run([BIN, "init", "--dir", self.dir, "--domain", self.domain,
                              "--hostname", "mx." + domain],
                             check=True, capture_output=True, text=True).stdout
        self.password = re.search(r"password:\s+(\S+)", out).group(1)
        self.user = "demo@" + self.domain
        self.conf = os.path.join(self.dir, "facteur.conf")
        self.ports = dict(zip(KINDS, free_ports(len(KINDS))))
        self.extra_config = extra_config
        self.write_config()
        self.proc = None
        self.wrapper = []  # e.g. ["prlimit", "--nofile=256:4096"]
        self.log_path = os.path.join(self.dir, "facteur.log")

    def write_config(self, extra=None):
        if extra is not None:
            self.extra_config = extra
        lines = [l for l in open(self.conf).read().splitlines()
                 if not l.startswith("listen.") and not l.startswith("user ")]
        for k in KINDS:
            lines.append(f"listen.{k} = {self.host}:{self.ports[k]}")
        lines.append("workers = 2")
        # Outbound delivery never reaches the real DNS from a test: a closed
        # port answers at once, so remote recipients just stay queued.
        # Tests of the queue set dns_forward to the DNS server they start.
        lines.append("dns_forward = 127.0.0.1@1")
        # SPF/DKIM/DMARC checks of MX mail would wait for that silent
        # resolver (libunbound gives up after ~17 s): off unless a test
        # turns them on with a DNS server of its own (test_mailauth.py).
        lines.append("mailauth_verify = no")
        lines.append(self.extra_config)
        with open(self.conf, "w") as f:
            f.write("\n".join(lines) + "\n")

    def cli(self, *args, input=None, check=True):
        return subprocess.run([BIN, "-c", self.conf, *args], input=input,
                              capture_output=True, text=True, check=check)

    def add_user(self, address, password):
        self.cli("user", "add", address, "--password-stdin", input=password + "\n")

    def start(self):
        self.log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(self.wrapper + [BIN, "-c", self.conf, "serve"],
                                     stdout=self.log, stderr=self.log)
        deadline = time.time() + 20
        for k in KINDS:
            while True:
                if self.proc.poll() is not None:
                    raise RuntimeError("facteur exited: " + self.logs())
                try:
                    socket.create_connection((self.host, self.ports[k]), 0.2).close()
                    break
                except OSError:
                    if time.time() > deadline:
                        raise RuntimeError("facteur did not listen: " + self.logs())
                    time.sleep(0.05)
        return self

    def stop(self, sig=signal.SIGTERM, timeout=20):
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        rc = self.proc.returncode
        self.proc = None
        self.log.close()
        return rc

    def kill9(self):
        return self.stop(signal.SIGKILL)

    def logs(self):
        try:
            return open(self.log_path, errors="replace").read()
        except OSError:
            return ""

    def tls_context(self):
        ctx = ssl.create_default_context(cafile=os.path.join(self.dir, "tls", "cert.pem"))
        ctx.check_hostname = False
        return ctx

    @property
    def cert(self):
        return os.path.join(self.dir, "tls", "cert.pem")


@pytest.fixture
def facteur(tmp_path):
    f = Facteur(tmp_path / "facteur").start()
    yield f
    rc = f.stop()
    # A sanitizer report makes the daemon exit non-zero: fail the test.
    assert rc == 0, "facteur exited with %r:\n%s" % (rc, f.logs()[-5000:])
    assert "ERROR: AddressSanitizer" not in f.logs()
    assert "runtime error:" not in f.logs()


@pytest.fixture
def make_facteur(tmp_path):
    """For tests that need a custom configuration or several instances."""
    made = []

    def make(name="facteur", extra_config="", start=True, host="127.0.0.1",
             domain="example.test"):
        f = Facteur(tmp_path / name, extra_config, host=host, domain=domain)
        made.append(f)
        return f.start() if start else f
    yield make
    for f in made:
        f.stop()
    for f in made:
        assert_clean_logs(f)


# --- helpers shared by the test files ------------------------------------
# Everything below is client-side plumbing: building messages, talking raw
# SMTP/POP3 over a socket (for the injection and smuggling tests, which no
# polite client library can express), and draining a mailbox over POP3.
import poplib  # noqa: E402
import smtplib  # noqa: E402

HOST = "127.0.0.1"
CLIENT_NAME = "client.example"  # never let smtplib call getfqdn() (DNS)


def make_message(subject, body="Hello from the e2e tests.\r\n", sender="sender@example.org",
                 to="demo@example.test", msgid=None, extra_headers=""):
    """An RFC 5322 message as bytes with CRLF line ends."""
    msgid = msgid or "<%s.%d@client.example>" % (subject.replace(" ", "-"), time.time_ns())
    text = ("From: <%s>\r\nTo: <%s>\r\nSubject: %s\r\nMessage-ID: %s\r\n"
            "Date: Mon, 01 Jan 2024 00:00:00 +0000\r\n%s\r\n%s"
            % (sender, to, subject, msgid, extra_headers, body))
    return text.encode()


def smtp_client(f, kind="smtp", timeout=30):
    """smtplib client on one of f's SMTP listeners (implicit TLS for submissions)."""
    if kind == "submissions":
        return smtplib.SMTP_SSL(f.host, f.ports[kind], local_hostname=CLIENT_NAME,
                                timeout=timeout, context=f.tls_context())
    return smtplib.SMTP(f.host, f.ports[kind], local_hostname=CLIENT_NAME, timeout=timeout)


def send_mx(f, msg, rcpts=("demo@example.test",), sender="sender@example.org"):
    """Deliver msg over the MX listener; returns smtplib's refused dict."""
    with smtp_client(f) as s:
        return s.sendmail(sender, list(rcpts), msg)


def pop3_client(f, mode="stls", user=None, password=None, timeout=30):
    """Logged-in poplib client: mode 'stls' (pop3 + STLS), 'tls' (pop3s) or 'plain'."""
    if mode == "tls":
        p = poplib.POP3_SSL(f.host, f.ports["pop3s"], timeout=timeout, context=f.tls_context())
    else:
        p = poplib.POP3(f.host, f.ports["pop3"], timeout=timeout)
        if mode == "stls":
            p.stls(context=f.tls_context())
    p.user(user or f.user)
    p.pass_(password if password is not None else f.password)
    return p


def pop3_retr_all(p):
    """Every message of an open POP3 session as bytes (CRLF line ends)."""
    count, _ = p.stat()
    out = []
    for i in range(1, count + 1):
        _, lines, _ = p.retr(i)
        out.append(b"\r\n".join(lines) + b"\r\n")
    return out


def pop3_fetch_all(f, mode="stls", user=None, password=None):
    p = pop3_client(f, mode, user, password)
    try:
        return pop3_retr_all(p)
    finally:
        p.quit()


def split_message(raw):
    """(header block, body) of a CRLF message."""
    head, sep, body = raw.partition(b"\r\n\r\n")
    return head, body


def header_values(raw, name):
    head, _ = split_message(raw)
    unfolded = re.sub(rb"\r\n[ \t]+", b" ", head)
    pfx = name.lower().encode() + b":"
    return [l[len(pfx):].strip() for l in unfolded.split(b"\r\n") if l.lower().startswith(pfx)]


def wait_for(pred, timeout=10, interval=0.1):
    deadline = time.time() + timeout
    while time.time() < deadline:
        v = pred()
        if v:
            return v
        time.sleep(interval)
    return pred()


class RawLine:
    """A line-oriented raw client over a plain or TLS socket, reading one
    byte at a time where it matters so that nothing past a reply is eaten
    (the STARTTLS tests hand the same socket to the TLS layer)."""

    def __init__(self, port, timeout=10, sock=None):
        self.sock = sock or socket.create_connection((HOST, port), timeout)
        self.sock.settimeout(timeout)

    def send(self, data):
        self.sock.sendall(data.encode() if isinstance(data, str) else data)

    def readline(self):
        buf = b""
        while not buf.endswith(b"\n"):
            c = self.sock.recv(1)
            if not c:
                raise ConnectionError("closed by server after %r" % buf)
            buf += c
        return buf

    def smtp_reply(self):
        """(code, [lines]) of one possibly multi-line SMTP reply."""
        lines = []
        while True:
            l = self.readline()
            lines.append(l)
            if len(l) < 4 or l[3:4] != b"-":
                return int(l[:3]), lines

    def smtp_cmd(self, cmd):
        self.send(cmd + "\r\n")
        return self.smtp_reply()

    def nothing_pending(self, wait=1.0):
        """True if the server sends nothing within wait seconds."""
        old = self.sock.gettimeout()
        self.sock.settimeout(wait)
        try:
            self.sock.recv(4096)  # data, or b"" when closed: either way not silence
            return False
        except (socket.timeout, TimeoutError):
            return True
        except ssl.SSLWantReadError:
            return True
        finally:
            self.sock.settimeout(old)

    def starttls(self, ctx):
        self.sock = ctx.wrap_socket(self.sock, server_hostname="mx.example.test")

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass


def assert_clean_logs(f):
    logs = f.logs()
    assert "ERROR: AddressSanitizer" not in logs, logs[-5000:]
    assert "runtime error:" not in logs, logs[-5000:]


# --- a local DNS server --------------------------------------------------
# Debian's unbound on a free port of 127.0.0.1, serving the records a test
# gives it under a static "test." zone (anything else there is NXDOMAIN).
# Instances resolve through it with dns_forward = 127.0.0.1@PORT.
UNBOUND = shutil.which("unbound") or "/usr/sbin/unbound"


def free_udp_tcp_port():
    """A port free for both UDP and TCP on 127.0.0.1 (unbound takes both)."""
    for _ in range(50):
        u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        u.bind(("127.0.0.1", 0))
        port = u.getsockname()[1]
        t = socket.socket()
        try:
            t.bind(("127.0.0.1", port))
            return port
        except OSError:
            continue
        finally:
            t.close()
            u.close()
    raise RuntimeError("no free port")


def dns_query_ok(port):
    """True once unbound answers a query (an MX query for b.test)."""
    q = b"\x12\x34\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00\x01b\x04test\x00\x00\x0f\x00\x01"
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.settimeout(0.3)
        try:
            s.sendto(q, ("127.0.0.1", port))
            return len(s.recv(512)) > 12
        except OSError:
            return False


class Unbound:
    """`with Unbound(dir, records) as port:` runs unbound serving records
    (zone-file lines, e.g. 'a.test. IN TXT "v=spf1 -all"'); fails the test
    when unbound is not installed (scripts/deps.sh test installs it)."""

    def __init__(self, directory, records):
        self.dir = directory
        self.records = list(records)
        self.proc = None
        self.log = None

    def __enter__(self):
        if not os.path.exists(UNBOUND):
            pytest.fail("unbound is not installed (scripts/deps.sh test installs it)")
        d = self.dir
        port = free_udp_tcp_port()
        lines = ["server:", f"  interface: 127.0.0.1@{port}", f"  port: {port}",
                 "  do-daemonize: no", '  chroot: ""', '  username: ""', f'  directory: "{d}"',
                 '  pidfile: ""', "  use-syslog: no", '  logfile: ""', "  do-ip6: no",
                 "  access-control: 127.0.0.0/8 allow", '  local-zone: "test." static',
                 # Nothing outside the test zones: never recurse to the Internet.
                 '  local-zone: "." refuse']
        # A record holding double quotes (TXT) goes in single quotes.
        lines += [f"  local-data: '{r}'" if '"' in r else f'  local-data: "{r}"'
                  for r in self.records]
        (d / "unbound.conf").write_text("\n".join(lines) + "\n")
        self.log = open(d / "unbound.log", "wb")
        self.proc = subprocess.Popen([UNBOUND, "-d", "-c", str(d / "unbound.conf")],
                                     stdout=self.log, stderr=self.log)
        if not wait_for(lambda: dns_query_ok(port), timeout=10):
            self.__exit__(None, None, None)
            raise RuntimeError("unbound did not start: " + (d / "unbound.log").read_text())
        return port

    def __exit__(self, *exc):
        if self.proc is not None:
            self.proc.terminate()
            self.proc.wait(10)
            self.proc = None
        if self.log is not None:
            self.log.close()
            self.log = None
        return False


def submit(a, rcpts, subject, body="Hello across the wire.\r\n", msgid=None):
    """Send from a's demo user through its submission port (STARTTLS, AUTH)."""
    msg = make_message(subject, body=body, sender=a.user, to=rcpts[0], msgid=msgid)
    with smtplib.SMTP(a.host, a.ports["submission"], local_hostname=CLIENT_NAME,
                      timeout=30) as s:
        s.starttls(context=a.tls_context())
        s.login(a.user, a.password)
        assert s.sendmail(a.user, rcpts, msg) == {}
    return msg
