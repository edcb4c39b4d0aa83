# SPDX-License-Identifier: MIT
"""Spam filtering with a real rspamd (Debian's 3.4) started by the test on
loopback ports in a temporary directory, with a minimal configuration: no
DNS (its resolver points at a closed port), a three-entry TLD list (so it
starts in seconds), Bayes in a private redis-server, and a Lua rule file
that scores messages by tokens in their Subject, so that every action is
forced exactly: XREJECTX scores 20 (reject at 15), XJUNKX 8 (add header
at 6), XGREYX 5 (greylist at 4), XSOFTX asks for a soft reject with a
message, XCUSTOMX for a reject with a message. One rspamd and one facteur
serve the whole module; a second facteur points at dead or silent ports
for fail-open and fail-closed. Clients: smtplib, imaplib, urllib (rspamd's
/stat for learning)."""
import base64
import imaplib
import json
import os
import shutil
import signal
import smtplib
import socket
import subprocess
import threading
import time
import urllib.request

import pytest

from conftest import (Facteur, assert_clean_logs, free_ports, header_values, make_message,
                      send_mx, wait_for)

RSPAMD = shutil.which("rspamd") or "/usr/bin/rspamd"
REDIS = shutil.which("redis-server") or "/usr/bin/redis-server"
CLAMD = shutil.which("clamd") or "/usr/sbin/clamd"
ANTIVIRUS_PLUGIN = "/usr/share/rspamd/plugins/antivirus.lua"
# The EICAR test file; its only signature in clamd's database is ours.
EICAR = rb"X5O!P%@AP[4\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*"

RULES = r"""
local function subject_has(task, token)
  local subj = task:get_header('Subject') or ''
  return subj:find(token, 1, true) ~= nil
end
rspamd_config.FACTEUR_TEST_REJECT = {
  callback = function(task) return subject_has(task, 'XREJECTX') end, score = 20.0 }
rspamd_config.FACTEUR_TEST_JUNK = {
  callback = function(task) return subject_has(task, 'XJUNKX') end, score = 8.0 }
rspamd_config.FACTEUR_TEST_GREY = {
  callback = function(task) return subject_has(task, 'XGREYX') end, score = 5.0 }
rspamd_config.FACTEUR_TEST_FORCED = {
  callback = function(task)
    if subject_has(task, 'XSOFTX') then
      task:set_pre_result('soft reject', 'Come back later, test rule')
    elseif subject_has(task, 'XCUSTOMX') then
      task:set_pre_result('reject', 'Refused by the test rule')
    end
    return false
  end, score = 0.0 }
-- rspamd's own antivirus plugin (clamav below), loaded without the rest of
-- the stock rules.
dofile(ANTIVIRUS_PLUGIN)
"""

CONF = """
options {{
  pidfile = "{d}/rspamd.pid";
  filters = "";
  url_tld = "{d}/tld.dat";
  dns {{ nameserver = ["127.0.0.1:9"]; timeout = 0.1s; retransmits = 0; }}
}}
logging {{ type = "file"; filename = "{d}/rspamd.log"; level = "info"; }}
actions {{ reject = 15; add_header = 6; greylist = 4; }}
worker "normal" {{ bind_socket = "127.0.0.1:{normal}"; count = 1; }}
worker "controller" {{ bind_socket = "127.0.0.1:{controller}"; count = 1; secure_ip = "127.0.0.1"; }}
classifier "bayes" {{
  backend = "redis"; servers = "127.0.0.1:{redis}"; min_learns = 1; min_tokens = 1;
  statfile {{ symbol = "BAYES_SPAM"; spam = true; }}
  statfile {{ symbol = "BAYES_HAM"; spam = false; }}
}}
lua = "{d}/rules.lua";
antivirus {{
  clamav {{
    type = "clamav"; servers = "127.0.0.1:{clamd}"; symbol = "CLAM_VIRUS";
    action = "reject"; message = "Virus found: ${{VIRUS}}";
    scan_mime_parts = true; timeout = 10; retransmits = 0;
  }}
}}
"""

CLAMD_CONF = """DatabaseDirectory {d}/clamdb
TCPSocket {port}
TCPAddr 127.0.0.1
Foreground yes
LogFile {d}/clamd.log
PidFile {d}/clamd.pid
"""

BODY = ("This message talks about many different things so that the Bayes "
        "classifier of rspamd has enough words to learn from it: cheap watches, "
        "lottery winnings, unclaimed parcels, urgent invoices and more.\r\n")


class Rspamd:
    """redis-server, clamd (whose database is one EICAR signature made here:
    ClamAV's own signatures need a download) and rspamd in d, on free
    loopback ports, stopped by PID."""

    def __init__(self, d):
        self.d = str(d)
        os.makedirs(os.path.join(self.d, "clamdb"), exist_ok=True)
        self.normal, self.controller, self.redis, self.clamd = free_ports(4)
        with open(os.path.join(self.d, "clamdb", "facteur-test.ndb"), "w") as f:
            f.write("Facteur-Test-EICAR:0:*:%s\n" % EICAR.hex())
        with open(os.path.join(self.d, "clamd.conf"), "w") as f:
            f.write(CLAMD_CONF.format(d=self.d, port=self.clamd) +
                    ("User root\n" if os.geteuid() == 0 else ""))
        self.clamd_proc = subprocess.Popen([CLAMD, "-c", os.path.join(self.d, "clamd.conf")],
                                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        with open(os.path.join(self.d, "rules.lua"), "w") as f:
            f.write(RULES.replace("ANTIVIRUS_PLUGIN", '"%s"' % ANTIVIRUS_PLUGIN))
        with open(os.path.join(self.d, "tld.dat"), "w") as f:
            f.write("com\nexample\ntest\n")
        with open(os.path.join(self.d, "rspamd.conf"), "w") as f:
            f.write(CONF.format(d=self.d, normal=self.normal, controller=self.controller,
                                redis=self.redis, clamd=self.clamd))
        self.redis_proc = subprocess.Popen(
            [REDIS, "--port", str(self.redis), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no", "--dir", self.d],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        args = [RSPAMD, "-f", "-c", os.path.join(self.d, "rspamd.conf"),
                "--var", "DBDIR=" + self.d, "--var", "RUNDIR=" + self.d,
                "--var", "LOGDIR=" + self.d]
        if os.geteuid() == 0:
            args += ["-u", "root", "-g", "root", "-i"]
        self.proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                     start_new_session=True)
        ok = wait_for(lambda: self.proc.poll() is not None or self.ping(), timeout=60,
                      interval=0.1) and wait_for(self.clamd_ping, timeout=60)
        if not ok or self.proc.poll() is not None:
            log = open(os.path.join(self.d, "rspamd.log"), errors="replace").read()
            self.stop()
            raise RuntimeError("rspamd did not start:\n" + log[-3000:])

    def url(self, port):
        return "http://127.0.0.1:%d" % port

    def ping(self):
        try:
            with urllib.request.urlopen(self.url(self.normal) + "/ping", timeout=1) as r:
                return r.read().startswith(b"pong")
        except OSError:
            return False

    def clamd_ping(self):
        try:
            with socket.create_connection(("127.0.0.1", self.clamd), 1) as s:
                s.sendall(b"zPING\0")
                return s.recv(16).startswith(b"PONG")
        except OSError:
            return False

    def stat(self):
        with urllib.request.urlopen(self.url(self.controller) + "/stat", timeout=5) as r:
            return json.load(r)

    def log(self):
        return open(os.path.join(self.d, "rspamd.log"), errors="replace").read()

    def stop(self):
        # rspamd's main process stops its workers on SIGTERM.
        for p in (self.proc, self.redis_proc, self.clamd_proc):
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
                try:
                    p.wait(20)
                except subprocess.TimeoutExpired:
                    p.kill()
                    p.wait()


@pytest.fixture(scope="module")
def rspamd(tmp_path_factory):
    r = Rspamd(tmp_path_factory.mktemp("rspamd"))
    yield r
    r.stop()


@pytest.fixture(scope="module")
def fac(rspamd, tmp_path_factory):
    f = Facteur(tmp_path_factory.mktemp("facteur"),
                "rspamd_url = %s/\nrspamd_controller_url = %s\nrspamd_timeout = 5\n"
                % (rspamd.url(rspamd.normal), rspamd.url(rspamd.controller))).start()
    yield f
    rc = f.stop()
    assert rc == 0, f.logs()[-5000:]
    assert_clean_logs(f)


def imap_login(f):
    imap = imaplib.IMAP4(f.host, f.ports["imap"], timeout=30)
    imap.login(f.user, f.password)
    return imap


def fetch_by_subject(f, mailbox, subject):
    """The raw message of mailbox whose Subject contains subject, or None."""
    imap = imap_login(f)
    try:
        typ, _ = imap.select(mailbox)
        assert typ == "OK"
        typ, data = imap.search(None, "SUBJECT", '"%s"' % subject)
        nums = data[0].split()
        if not nums:
            return None
        typ, data = imap.fetch(nums[-1], "(BODY.PEEK[])")
        return data[0][1]
    finally:
        imap.logout()


def test_clean_message_gets_headers_and_inbox(fac):
    msg = make_message("hello clean one", body=BODY, extra_headers="X-Spam: Yes\r\n"
                       "X-Spam-Status: Yes, forged\r\n")
    assert send_mx(fac, msg) == {}
    raw = wait_for(lambda: fetch_by_subject(fac, "INBOX", "clean one"))
    assert raw is not None
    status = header_values(raw, "X-Spam-Status")
    assert len(status) == 1 and status[0].startswith(b"No, score=")
    assert header_values(raw, "X-Spam-Score") == [b"0.00"]
    assert header_values(raw, "X-Spam") == []  # the sender's own verdict is gone
    assert "rspamd.result" in fac.logs()


def test_reject_by_score(fac):
    with pytest.raises(smtplib.SMTPDataError) as e:
        send_mx(fac, make_message("buy now XREJECTX", body=BODY))
    assert e.value.smtp_code == 550
    assert e.value.smtp_error.startswith(b"5.7.1 ")


def test_reject_with_rspamd_message(fac):
    with pytest.raises(smtplib.SMTPDataError) as e:
        send_mx(fac, make_message("XCUSTOMX offer", body=BODY))
    assert e.value.smtp_code == 550
    assert e.value.smtp_error == b"5.7.1 Refused by the test rule"


def test_virus_rejected_through_clamav(fac):
    """EICAR as an attachment: rspamd's antivirus module asks clamd, which
    finds our signature; rspamd says reject with the virus name."""
    att = base64.encodebytes(EICAR).decode().replace("\n", "\r\n")
    msg = make_message("see attachment", extra_headers=(
        "MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=BB\r\n"),
        body=("--BB\r\nContent-Type: text/plain\r\n\r\n" + BODY + "--BB\r\n"
              "Content-Type: application/octet-stream\r\n"
              "Content-Disposition: attachment; filename=eicar.com\r\n"
              "Content-Transfer-Encoding: base64\r\n\r\n" + att + "--BB--\r\n"))
    with pytest.raises(smtplib.SMTPDataError) as e:
        send_mx(fac, msg)
    assert e.value.smtp_code == 550
    assert e.value.smtp_error == b"5.7.1 Virus found: Facteur-Test-EICAR.UNOFFICIAL"
    # The same text without the virus goes through.
    clean = msg.replace(att.encode(), base64.encodebytes(b"harmless").replace(b"\n", b"\r\n"))
    assert send_mx(fac, clean) == {}


def test_junk_filing_and_headers(fac):
    assert send_mx(fac, make_message("cheap watches XJUNKX", body=BODY)) == {}
    raw = wait_for(lambda: fetch_by_subject(fac, "Junk", "XJUNKX"))
    assert raw is not None
    assert header_values(raw, "X-Spam") == [b"Yes"]
    assert header_values(raw, "X-Spam-Score") == [b"8.00"]
    assert header_values(raw, "X-Spam-Status")[0].startswith(b"Yes, score=8.00 required=15.00")
    assert b"FACTEUR_TEST_JUNK(8.00)" in header_values(raw, "X-Spam-Symbols")[0]
    assert fetch_by_subject(fac, "INBOX", "XJUNKX") is None


def test_greylist_and_soft_reject_defer(fac):
    with pytest.raises(smtplib.SMTPDataError) as e:
        send_mx(fac, make_message("maybe XGREYX", body=BODY))
    assert e.value.smtp_code == 451 and e.value.smtp_error.startswith(b"4.7.1 ")
    with pytest.raises(smtplib.SMTPDataError) as e:
        send_mx(fac, make_message("later XSOFTX", body=BODY))
    assert e.value.smtp_code == 451
    assert e.value.smtp_error == b"4.7.1 Come back later, test rule"


def test_learning_from_imap_moves(fac, rspamd):
    base = rspamd.stat()["learned"]
    assert send_mx(fac, make_message("learn me please", body=BODY)) == {}
    assert wait_for(lambda: fetch_by_subject(fac, "INBOX", "learn me"))
    imap = imap_login(fac)
    try:
        imap.select("INBOX")
        typ, data = imap.uid("SEARCH", None, "SUBJECT", '"learn me"')
        typ, _ = imap.uid("MOVE", data[0].split()[-1], "Junk")
        assert typ == "OK"
        assert wait_for(lambda: rspamd.stat()["learned"] >= base + 1), rspamd.log()[-3000:]
        assert wait_for(lambda: "class=spam" in fac.logs() and "via=imap.move" in fac.logs())
        # Out of Junk (not to Trash): ham.
        imap.select("Junk")
        typ, data = imap.search(None, "SUBJECT", '"learn me"')
        typ, _ = imap.copy(data[0].split()[-1], "INBOX")
        assert typ == "OK"
        assert wait_for(lambda: rspamd.stat()["learned"] >= base + 2), rspamd.log()[-3000:]
        assert wait_for(lambda: "class=ham" in fac.logs())
        # Junk to Trash teaches nothing.
        learned = rspamd.stat()["learned"]
        typ, _ = imap.copy(data[0].split()[-1], "Trash")
        assert typ == "OK"
        time.sleep(0.3)
        assert rspamd.stat()["learned"] == learned
    finally:
        imap.logout()
    assert "learned" in rspamd.log()


def jmap_call(f, name, args):
    """One JMAP method call over urllib (Basic auth on loopback HTTP)."""
    body = json.dumps({"using": ["urn:ietf:params:jmap:core", "urn:ietf:params:jmap:mail"],
                       "methodCalls": [[name, args, "c"]]}).encode()
    cred = base64.b64encode(("%s:%s" % (f.user, f.password)).encode()).decode()
    req = urllib.request.Request("http://127.0.0.1:%d/jmap/api" % f.ports["http"], data=body,
                                 method="POST", headers={"Authorization": "Basic " + cred,
                                                         "Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=30) as r:
        [[rname, res, _]] = json.loads(r.read())["methodResponses"]
    assert rname == name, res
    return res


def test_learning_from_jmap_mailbox_change(fac, rspamd):
    base = rspamd.stat()["learned"]
    assert send_mx(fac, make_message("jmap learns this", body=BODY + "Parcel 42.\r\n")) == {}
    assert wait_for(lambda: fetch_by_subject(fac, "INBOX", "jmap learns"))
    cred = base64.b64encode(("%s:%s" % (fac.user, fac.password)).encode()).decode()
    req = urllib.request.Request("http://127.0.0.1:%d/.well-known/jmap" % fac.ports["http"],
                                 headers={"Authorization": "Basic " + cred})
    with urllib.request.urlopen(req, timeout=10) as r:
        account = json.loads(r.read())["primaryAccounts"]["urn:ietf:params:jmap:mail"]
    boxes = {m["name"]: m["id"] for m in
             jmap_call(fac, "Mailbox/get", {"accountId": account, "ids": None})["list"]}
    ids = jmap_call(fac, "Email/query", {"accountId": account,
                                          "filter": {"subject": "jmap learns"}})["ids"]
    assert len(ids) == 1
    res = jmap_call(fac, "Email/set", {"accountId": account, "update": {
        ids[0]: {"mailboxIds": {boxes["Junk"]: True}}}})
    assert ids[0] in res["updated"], res
    assert wait_for(lambda: rspamd.stat()["learned"] >= base + 1), rspamd.log()[-3000:]
    assert wait_for(lambda: "via=jmap.email_set class=spam" in fac.logs())


def test_check_config_reports_rspamd(fac):
    out = fac.cli("check-config").stdout
    assert out.count("rspamd answers") == 2, out


def test_init_writes_rspamd_keys_commented(fac):
    text = open(fac.conf).read()
    for key in ("# rspamd_url =", "# rspamd_controller_url =", "# rspamd_fail = open"):
        assert key in text


class Silent:
    """A TCP listener that accepts and never answers (a hung rspamd)."""

    def __init__(self):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]
        self.conns = []
        self.stop = False
        self.t = threading.Thread(target=self.run, daemon=True)
        self.t.start()

    def run(self):
        self.sock.settimeout(0.2)
        while not self.stop:
            try:
                self.conns.append(self.sock.accept()[0])
            except OSError:
                pass

    def close(self):
        self.stop = True
        self.t.join()
        for c in self.conns:
            c.close()
        self.sock.close()


def test_fail_open_and_closed(tmp_path):
    dead = free_ports(1)[0]  # nothing listens there
    f = Facteur(tmp_path / "f", "rspamd_url = http://127.0.0.1:%d\nrspamd_timeout = 1\n" % dead)
    f.start()
    silent = Silent()
    try:
        # Fail open (the default): accepted, marked as not scanned.
        assert send_mx(f, make_message("unscanned one", body=BODY)) == {}
        raw = wait_for(lambda: fetch_by_subject(f, "INBOX", "unscanned one"))
        status = header_values(raw, "X-Spam-Status")
        assert len(status) == 1 and status[0].startswith(b"Unknown, not scanned ("), status
        out = f.cli("check-config").stdout
        assert "rspamd does not answer" in out
        # Fail closed, rspamd hung: 451 4.7.1 after rspamd_timeout.
        f.stop()
        f.write_config(f.extra_config.replace(str(dead), str(silent.port)) +
                       "rspamd_fail = closed\n")
        f.start()
        start = time.time()
        with pytest.raises(smtplib.SMTPDataError) as e:
            send_mx(f, make_message("deferred one", body=BODY))
        assert e.value.smtp_code == 451 and e.value.smtp_error.startswith(b"4.7.1 ")
        assert 0.9 < time.time() - start < 10
        assert "rspamd.unavailable" in f.logs() and "fail=closed" in f.logs()
    finally:
        rc = f.stop()
        silent.close()
    assert rc == 0
    assert_clean_logs(f)


def test_bad_configuration_values(tmp_path):
    f = Facteur(tmp_path / "f", "rspamd_fail = sometimes\n")
    r = f.cli("check-config", check=False)
    assert r.returncode != 0 and "rspamd_fail: must be open or closed" in r.stderr
    f = Facteur(tmp_path / "g", "rspamd_url = 127.0.0.1:11333\n")
    r = f.cli("check-config", check=False)
    assert r.returncode != 0 and "expected http://HOST:PORT" in r.stderr
