# SPDX-License-Identifier: MIT
"""SIGHUP reloads the TLS certificate (a renewal) without stopping the
daemon or dropping the connections in progress; a broken new certificate
is refused and the old one stays."""
import hashlib
import imaplib
import signal
import socket
import ssl
import subprocess
import time


def served_cert(f, kind="imaps"):
    """SHA-256 of the certificate a new TLS connection is given."""
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    with socket.create_connection((f.host, f.ports[kind]), 5) as raw:
        with ctx.wrap_socket(raw) as s:
            return hashlib.sha256(s.getpeercert(binary_form=True)).hexdigest()


def starttls_cert(f):
    """The same through STARTTLS on submission (the other SSL_new path)."""
    import smtplib
    with smtplib.SMTP(f.host, f.ports["submission"], timeout=5) as c:
        ctx = ssl.create_default_context()
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        c.starttls(context=ctx)
        return hashlib.sha256(c.sock.getpeercert(binary_form=True)).hexdigest()


def new_cert(f, cn):
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                    "ec_paramgen_curve:P-256", "-nodes", "-days", "2", "-subj", f"/CN={cn}",
                    "-keyout", f"{f.dir}/tls/key.pem", "-out", f"{f.dir}/tls/cert.pem"],
                   check=True, capture_output=True)


def wait_log(f, text, timeout=10):
    deadline = time.time() + timeout
    while text not in f.logs():
        assert time.time() < deadline, f.logs()[-2000:]
        time.sleep(0.05)


def test_sighup_reloads_certificate(facteur):
    f = facteur
    before = served_cert(f)
    assert starttls_cert(f) == before
    # A session opened on the old certificate goes on after the reload.
    old = imaplib.IMAP4_SSL(f.host, f.ports["imaps"], ssl_context=f.tls_context())
    old.login(f.user, f.password)
    old.select("INBOX")

    new_cert(f, "renewed.example.test")
    f.proc.send_signal(signal.SIGHUP)
    wait_log(f, "event=reload what=tls result=ok")
    after = served_cert(f)
    assert after != before
    assert starttls_cert(f) == after
    assert old.noop()[0] == "OK"
    old.logout()

    # A broken file is refused: logged, the current certificate stays.
    with open(f"{f.dir}/tls/cert.pem", "w") as out:
        out.write("not a certificate\n")
    f.proc.send_signal(signal.SIGHUP)
    wait_log(f, "event=reload what=tls result=failed")
    assert served_cert(f) == after
    assert f.proc.poll() is None
