# SPDX-License-Identifier: MIT
"""A raw IMAP client for the METADATA and NOTIFY tests: imaplib knows
neither command nor the unsolicited responses NOTIFY sends between
commands, so these tests write the commands themselves and read every
line (literals included) as it comes."""
import re
import socket

from conftest import HOST


class RawImap:
    def __init__(self, f, user=None, password=None, timeout=10):
        self.sock = socket.create_connection((HOST, f.ports["imap"]), timeout)
        self.sock.settimeout(timeout)
        self.buf = b""
        self.n = 0
        greeting = self.line()
        assert greeting.startswith(b"* OK"), greeting
        if user is not None:
            typ, lines = self.cmd('LOGIN "%s" "%s"' % (user, password))
            assert typ == "OK", lines

    def _fill(self):
        c = self.sock.recv(65536)
        if not c:
            raise ConnectionError("closed by server after %r" % self.buf)
        self.buf += c

    def line(self):
        """One response line, with any literals it carries inlined."""
        out = b""
        while True:
            while b"\r\n" not in self.buf:
                self._fill()
            i = self.buf.index(b"\r\n")
            part, self.buf = self.buf[:i], self.buf[i + 2:]
            out += part
            m = re.search(rb"~?\{(\d+)\}$", part)
            if not m:
                return out
            n = int(m.group(1))
            while len(self.buf) < n:
                self._fill()
            out += b"\r\n" + self.buf[:n]
            self.buf = self.buf[n:]

    def send(self, data):
        self.sock.sendall(data.encode() if isinstance(data, str) else data)

    def cmd(self, text, literal=None):
        """Run a command; returns (status, [lines before the tagged one, then it]).
        With literal, text ends with "{n}" and the literal follows the "+"."""
        self.n += 1
        tag = "t%d" % self.n
        if literal is None:
            self.send("%s %s\r\n" % (tag, text))
        else:
            self.send("%s %s\r\n" % (tag, text))
            cont = self.line()
            assert cont.startswith(b"+"), cont
            self.send(literal + b"\r\n")
        lines = []
        while True:
            l = self.line()
            lines.append(l)
            if l.startswith(tag.encode() + b" "):
                return l.split(b" ")[1].decode(), lines

    def untagged(self, wait=1.0):
        """Lines the server sends by itself within wait seconds."""
        old = self.sock.gettimeout()
        self.sock.settimeout(wait)
        lines = []
        try:
            while True:
                lines.append(self.line())
        except (socket.timeout, TimeoutError):
            pass
        finally:
            self.sock.settimeout(old)
        return lines

    def wait_for(self, pattern, wait=5.0):
        """Read unsolicited lines until one matches pattern (bytes regex);
        returns (match line, every line read)."""
        import time
        deadline = time.time() + wait
        seen = []
        old = self.sock.gettimeout()
        try:
            while time.time() < deadline:
                self.sock.settimeout(max(0.05, deadline - time.time()))
                try:
                    l = self.line()
                except (socket.timeout, TimeoutError):
                    break
                seen.append(l)
                if re.search(pattern, l):
                    return l, seen
        finally:
            self.sock.settimeout(old)
        return None, seen

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass
