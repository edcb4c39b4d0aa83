# SPDX-License-Identifier: MIT
"""The administration CLI: init, domain/user/alias add-list-remove, quota,
check-config and exit statuses, and the effect of aliases (catch-all),
+tag addresses and quotas on delivery through the running daemon."""
import re
import os
import subprocess

from conftest import BIN, make_message, pop3_fetch_all, send_mx, smtp_client


def run(*args, input=None):
    return subprocess.run([BIN, *args], input=input, capture_output=True, text=True, timeout=60)


def test_init_output_and_files(tmp_path):
    d = tmp_path / "inst"
    r = run("init", "--dir", str(d), "--domain", "foo.test", "--hostname", "mx.foo.test")
    assert r.returncode == 0, r.stderr
    assert re.search(r"account:\s+demo@foo.test", r.stdout)
    assert "password:" in r.stdout
    for p in ("facteur.conf", "tls/cert.pem", "tls/key.pem"):
        assert (d / p).exists(), p
    # Clients check the certificate against the name they are given: init
    # prints localhost, and the certificate carries it and the host name.
    assert re.search(r"IMAP:\s+localhost port", r.stdout), r.stdout
    san = subprocess.run(["openssl", "x509", "-in", str(d / "tls/cert.pem"), "-noout", "-ext",
                          "subjectAltName"], capture_output=True, text=True, check=True).stdout
    for name in ("DNS:mx.foo.test", "DNS:localhost", "IP Address:127.0.0.1"):
        assert name in san, san
    conf = str(d / "facteur.conf")
    assert "hostname = mx.foo.test" in open(conf).read()
    # ManageSieve's quick-start port (RFC 5804's 4190 with a 2 in front).
    assert "listen.managesieve = 127.0.0.1:24190" in open(conf).read()
    assert re.search(r"ManageSieve:\s+localhost port 24190 \(STARTTLS\)", r.stdout), r.stdout
    assert run("-c", conf, "check-config").returncode == 0
    assert "foo.test" in run("-c", conf, "domain", "list").stdout.split()
    assert "demo@foo.test" in run("-c", conf, "user", "list").stdout
    # A second init refuses to overwrite; a bad argument is a usage error.
    r = run("init", "--dir", str(d))
    assert r.returncode == 1 and "exists" in r.stderr
    assert run("init", "--dir", str(d), "--bogus").returncode == 2
    assert run("init", "--help").returncode == 0


def test_domain_user_alias_lifecycle(facteur):
    cli = facteur.cli
    assert cli("domain", "add", "other.test").returncode == 0
    assert "other.test" in cli("domain", "list").stdout.split()
    r = cli("user", "add", "alice@other.test", "--password-stdin", input="alice-password\n")
    assert "alice@other.test" in r.stdout
    r = cli("user", "add", "bob@other.test")  # generated password, printed once
    pw = [l.split()[1] for l in r.stdout.splitlines() if l.startswith("password:")]
    assert len(pw) == 1 and len(pw[0]) >= 12
    users = cli("user", "list").stdout
    assert "alice@other.test" in users and "bob@other.test" in users
    r = cli("user", "add", "carol@other.test", "--password-stdin", input="short\n", check=False)
    assert r.returncode == 1
    assert cli("alias", "add", "team@other.test", "alice@other.test").returncode == 0
    assert "team@other.test -> alice@other.test" in cli("alias", "list").stdout
    # The running daemon sees the new domain, user and alias.
    assert send_mx(facteur, make_message("team", to="team@other.test"),
                   rcpts=["team@other.test"]) == {}
    msgs = pop3_fetch_all(facteur, user="alice@other.test", password="alice-password")
    assert len(msgs) == 1
    assert len(pop3_fetch_all(facteur, user="bob@other.test", password=pw[0])) == 0
    assert cli("alias", "remove", "team@other.test", "alice@other.test").returncode == 0
    assert "team@other.test" not in cli("alias", "list").stdout
    assert cli("user", "remove", "bob@other.test").returncode == 0
    assert "bob@other.test" not in cli("user", "list").stdout
    with smtp_client(facteur) as s:
        s.ehlo()
        s.mail("sender@example.org")
        assert s.rcpt("team@other.test")[0] == 550
        assert s.rcpt("bob@other.test")[0] == 550
    # Removing a user twice, or one that never existed, fails with status 1.
    assert cli("user", "remove", "bob@other.test", check=False).returncode == 1
    assert cli("user", "remove", "alice@other.test").returncode == 0
    assert cli("domain", "remove", "other.test").returncode == 0
    assert "other.test" not in cli("domain", "list").stdout.split()
    with smtp_client(facteur) as s:
        s.ehlo()
        s.mail("sender@example.org")
        assert s.rcpt("alice@other.test")[0] in (550, 554)


def test_catch_all_alias(facteur):
    with smtp_client(facteur) as s:
        s.ehlo()
        s.mail("sender@example.org")
        assert s.rcpt("anything@example.test")[0] == 550
    assert facteur.cli("alias", "add", "@example.test", "demo@example.test").returncode == 0
    msg = make_message("catch-all", to="anything@example.test")
    assert send_mx(facteur, msg, rcpts=["anything@example.test"]) == {}
    (raw,) = pop3_fetch_all(facteur)
    assert raw.endswith(msg)
    # Still no relay for other domains.
    with smtp_client(facteur) as s:
        s.ehlo()
        s.mail("sender@example.org")
        assert s.rcpt("anything@remote.example")[0] in (550, 554)


def test_plus_tag_addressing(facteur):
    msg = make_message("tagged", to="demo+news@example.test")
    assert send_mx(facteur, msg, rcpts=["demo+news@example.test"]) == {}
    (raw,) = pop3_fetch_all(facteur)
    assert raw.endswith(msg)
    with smtp_client(facteur) as s:
        s.ehlo()
        s.mail("sender@example.org")
        assert s.rcpt("nobody+news@example.test")[0] == 550


def test_quota(facteur):
    r = facteur.cli("user", "quota", facteur.user, "8K")
    assert "8192" in r.stdout
    assert facteur.cli("user", "quota", facteur.user, "lots", check=False).returncode == 2
    small = make_message("small", body="x" * 1000 + "\r\n")
    assert send_mx(facteur, small) == {}
    big = make_message("big", body=("y" * 998 + "\r\n") * 20)
    with smtp_client(facteur) as s:
        s.ehlo()
        s.esmtp_features.pop("size", None)
        assert s.mail("sender@example.org")[0] == 250
        code, text = s.rcpt(facteur.user)
        if code == 250:
            code, text = s.data(big)
        assert code in (552, 452), text
    assert "used=" in facteur.cli("user", "list").stdout
    msgs = pop3_fetch_all(facteur)
    assert len(msgs) == 1 and msgs[0].endswith(small)
    # Unlimited again: the big one goes through.
    facteur.cli("user", "quota", facteur.user, "0")
    assert send_mx(facteur, big) == {}


def test_check_config(facteur):
    assert facteur.cli("check-config").returncode == 0
    with open(facteur.conf) as f:
        lines = f.read().splitlines()
    lines.insert(3, "bogus_key = 1")
    bad = os.path.join(facteur.dir, "bad.conf")
    with open(bad, "w") as f:
        f.write("\n".join(lines) + "\n")
    r = run("-c", bad, "check-config")
    assert r.returncode == 1
    assert "%s:4:" % bad in r.stderr, r.stderr
    assert "bogus_key" in r.stderr
    lines[3] = "max_recipients = many"
    with open(bad, "w") as f:
        f.write("\n".join(lines) + "\n")
    r = run("-c", bad, "check-config")
    assert r.returncode == 1 and "%s:4:" % bad in r.stderr, r.stderr
    # serve refuses the same file before binding anything.
    r = run("-c", bad, "serve")
    assert r.returncode == 1 and "%s:4:" % bad in r.stderr, r.stderr


def test_exit_codes(facteur):
    assert run("frobnicate").returncode == 2
    assert run().returncode == 2
    assert run("--bogus").returncode == 2
    assert run("-c", facteur.conf, "user", "frobnicate").returncode == 2
    assert run("-c", facteur.conf, "user", "add").returncode == 2
    assert run("-c", facteur.conf, "user", "--help").returncode == 0
    assert run("--help").returncode == 0
    assert run("--version").returncode == 0
    assert run("-c", "/nonexistent/facteur.conf", "user", "list").returncode == 1
