# SPDX-License-Identifier: MIT
"""End-to-end harness: each test gets its own facteur, initialised by
`facteur init` in a temporary directory, listening on free loopback ports,
stopped (SIGTERM, then SIGKILL) afterwards. Real clients talk to it."""
import os
import re
import signal
import socket
import ssl
import subprocess
import time

import pytest

BIN = os.environ.get("FACTEUR_BIN") or os.path.abspath(
    os.path.join(os.path.dirname(__file__), "..", "..", "build", "facteur"))
KINDS = ["smtp", "submission", "submissions", "pop3", "pop3s"]


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Facteur:
    """One facteur instance in a temporary directory."""

    def __init__(self, tmpdir, extra_config=""):
        self.dir = str(tmpdir)
        self.domain = "example.test"
        out = subprocess.run([BIN, "init", "--dir", self.dir, "--domain", self.domain,
                              "--hostname", "mx.example.test"],
                             check=True, capture_output=True, text=True).stdout
        self.password = re.search(r"password:\s+(\S+)", out).group(1)
        self.user = "demo@" + self.domain
        self.conf = os.path.join(self.dir, "facteur.conf")
        self.ports = {k: free_port() for k in KINDS}
        self.extra_config = extra_config
        self.write_config()
        self.proc = None
        self.log_path = os.path.join(self.dir, "facteur.log")

    def write_config(self, extra=None):
        if extra is not None:
            self.extra_config = extra
        lines = [l for l in open(self.conf).read().splitlines()
                 if not l.startswith("listen.") and not l.startswith("user ")]
        for k in KINDS:
            lines.append(f"listen.{k} = 127.0.0.1:{self.ports[k]}")
        lines.append("workers = 2")
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
        self.proc = subprocess.Popen([BIN, "-c", self.conf, "serve"],
                                     stdout=self.log, stderr=self.log)
        deadline = time.time() + 20
        for k in KINDS:
            while True:
                if self.proc.poll() is not None:
                    raise RuntimeError("facteur exited: " + self.logs())
                try:
                    socket.create_connection(("127.0.0.1", self.ports[k]), 0.2).close()
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

    def make(name="facteur", extra_config="", start=True):
        f = Facteur(tmp_path / name, extra_config)
        made.append(f)
        return f.start() if start else f
    yield make
    for f in made:
        f.stop()
