# SPDX-License-Identifier: MIT
"""Resource exhaustion: file descriptors. The daemon raises its
RLIMIT_NOFILE soft limit to what max_connections needs; when descriptors
still run out (the limit lowered under it with prlimit), a new client gets
a proper refusal greeting instead of a silent timeout, the loop does not
spin, the episode is logged once, and service resumes when descriptors
come back."""
import os
import socket
import subprocess
import time

from conftest import HOST, wait_for


def cpu_seconds(pid):
    fields = open("/proc/%d/stat" % pid).read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def soft_nofile(pid):
    for line in open("/proc/%d/limits" % pid):
        if line.startswith("Max open files"):
            return int(line.split()[3])
    raise AssertionError("no limit line")


def greeting(port, timeout=10):
    s = socket.create_connection((HOST, port), timeout)
    s.settimeout(timeout)
    try:
        return s, s.recv(200)
    except OSError:
        s.close()
        raise


def test_nofile_raised_at_start(make_facteur):
    f = make_facteur(start=False, extra_config="max_connections = 3000")
    f.wrapper = ["prlimit", "--nofile=256:16384"]
    f.start()
    # 2 workers x 3000 connections need more than 6000 descriptors. The
    # listeners answer before the workers start (and raise the limit).
    assert wait_for(lambda: soft_nofile(f.proc.pid) > 6000, timeout=20)
    assert wait_for(lambda: "event=nofile" in f.logs(), timeout=20)


def test_nofile_too_low_lowers_the_cap(make_facteur):
    f = make_facteur(start=False, extra_config="max_connections = 3000")
    f.wrapper = ["prlimit", "--nofile=512:512"]
    f.start()
    assert wait_for(lambda: "event=nofile_low" in f.logs(), timeout=20), f.logs()[-2000:]


def test_fd_exhaustion_refuses_and_recovers(make_facteur):
    f = make_facteur()
    pid = f.proc.pid

    def ready():  # the workers run (and hold their descriptors) once IMAP greets
        s, data = greeting(f.ports["imap"])
        s.close()
        return data.startswith(b"* OK")
    assert wait_for(ready, timeout=20)
    time.sleep(0.5)
    lim = len(os.listdir("/proc/%d/fd" % pid)) + 6
    subprocess.run(["prlimit", "--pid", str(pid), "--nofile=%d:%d" % (lim, lim)], check=True)
    held, refused = [], 0
    for _ in range(20):
        s, data = greeting(f.ports["imap"])
        if data.startswith(b"* OK"):
            held.append(s)
        else:
            assert data.startswith(b"* BYE"), data
            refused += 1
            s.close()
    assert held and refused, (len(held), refused)
    # Out of descriptors with a client waiting in the backlog: no busy loop.
    waiting = socket.create_connection((HOST, f.ports["smtp"]), 10)
    before = cpu_seconds(pid)
    time.sleep(2)
    assert cpu_seconds(pid) - before < 1.0
    waiting.settimeout(10)
    assert waiting.recv(200).startswith(b"421 "), "SMTP refusal greeting"
    waiting.close()
    # Logged once per episode (until an accept succeeds again), not per accept.
    events = [l.split("event=")[1].split()[0] for l in f.logs().splitlines()
              if "event=fd_exhausted" in l or "event=fd_recovered" in l]
    assert events and events[-1] == "fd_exhausted", f.logs()[-3000:]
    assert all(a != b for a, b in zip(events, events[1:])), f.logs()[-3000:]
    # Descriptors come back: so does service.
    for s in held:
        s.close()

    def serves():
        s, data = greeting(f.ports["imap"])
        s.close()
        return data.startswith(b"* OK")
    assert wait_for(serves, timeout=10)
    assert "event=fd_recovered" in f.logs()
