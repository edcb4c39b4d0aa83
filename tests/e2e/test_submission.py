# SPDX-License-Identifier: MIT
"""Submission (listen.submission with STARTTLS, listen.submissions with
implicit TLS) against smtplib, swaks and curl: AUTH PLAIN and LOGIN, local
and remote (queued) recipients, the refusals (535, 538, 553, 530) and the
per-address back-off after repeated authentication failures."""
import base64
import smtplib
import subprocess

import pytest

from conftest import HOST, make_message, pop3_fetch_all, smtp_client


def b64(s):
    return base64.b64encode(s.encode()).decode()


def plain_token(user, password):
    return base64.b64encode(b"\0" + user.encode() + b"\0" + password.encode()).decode()


def submission(f, kind="submission"):
    """A TLS-protected, EHLO'd, not yet authenticated submission session."""
    s = smtp_client(f, kind)
    s.ehlo()
    if kind == "submission":
        assert s.has_extn("starttls")
        s.starttls(context=f.tls_context())
        s.ehlo()
    assert s.has_extn("auth"), s.esmtp_features
    return s


def auth_plain(s, user, password):
    return s.docmd("AUTH", "PLAIN " + plain_token(user, password))


@pytest.mark.parametrize("kind", ["submission", "submissions"])
@pytest.mark.parametrize("mech", ["PLAIN", "LOGIN", "LOGIN-initial"])
def test_auth_and_send_local_and_remote(facteur, kind, mech):
    s = submission(facteur, kind)
    s.user, s.password = facteur.user, facteur.password
    if mech == "PLAIN":
        code, text = s.auth("PLAIN", s.auth_plain)
    elif mech == "LOGIN":
        code, text = s.auth("LOGIN", s.auth_login, initial_response_ok=False)
    else:  # smtplib's default: AUTH LOGIN <base64 user> (initial response)
        code, text = s.auth("LOGIN", s.auth_login)
    assert code == 235, text
    local = make_message("to local", sender=facteur.user)
    assert s.sendmail(facteur.user, ["demo@example.test"], local) == {}
    remote = make_message("to remote", sender=facteur.user, to="friend@remote.example")
    assert s.sendmail(facteur.user, ["friend@remote.example"], remote) == {}
    s.quit()
    (raw,) = pop3_fetch_all(facteur)
    assert raw.endswith(local)
    queue = facteur.cli("queue", "list").stdout
    assert "<friend@remote.example>" in queue, queue
    assert "<demo@example.test>" in queue


def test_wrong_password_is_535(facteur):
    s = submission(facteur)
    code, text = auth_plain(s, facteur.user, "not-the-password")
    assert code == 535, text
    code, text = auth_plain(s, "nobody@example.test", "whatever-password")
    assert code == 535, text
    s.user, s.password = facteur.user, "wrong"
    with pytest.raises(smtplib.SMTPAuthenticationError) as e:
        s.auth("LOGIN", s.auth_login, initial_response_ok=False)
    assert e.value.smtp_code == 535
    s.close()


def test_auth_refused_without_tls_when_plaintext_never(make_facteur):
    f = make_facteur(extra_config="plaintext_auth = never")
    s = smtp_client(f, "submission")
    s.ehlo()
    code, text = auth_plain(s, f.user, f.password)
    assert code == 538, text
    s.close()
    # ...and the same credentials work once TLS is up.
    s = submission(f)
    assert auth_plain(s, f.user, f.password)[0] == 235
    s.quit()


def test_mail_from_other_account_is_553(facteur):
    facteur.add_user("other@example.test", "other-password")
    s = submission(facteur)
    assert auth_plain(s, facteur.user, facteur.password)[0] == 235
    code, text = s.mail("other@example.test")
    assert code == 553, text
    code, text = s.mail(facteur.user)
    assert code == 250, text
    s.close()


@pytest.mark.parametrize("kind", ["submission", "submissions"])
def test_mail_without_auth_is_530(facteur, kind):
    s = submission(facteur, kind)
    code, text = s.mail(facteur.user)
    assert code == 530, text
    s.close()


def test_submission_requires_tls_before_auth_or_mail_on_plain_port(facteur):
    """Before STARTTLS, MAIL on the submission port is refused (530)."""
    s = smtp_client(facteur, "submission")
    s.ehlo()
    code, text = s.mail(facteur.user)
    assert code == 530, text
    s.close()


def test_rate_limit_after_failures(make_facteur):
    f = make_facteur(extra_config="auth_max_failures = 3")
    for _ in range(3):
        s = submission(f)
        assert auth_plain(s, f.user, "wrong-password")[0] == 535
        s.close()
    s = submission(f)
    code, text = auth_plain(s, f.user, f.password)
    assert code == 454, text
    s.close()
    # The back-off belongs to the client address, so it holds on the other
    # submission listener too.
    s = submission(f, "submissions")
    assert auth_plain(s, f.user, f.password)[0] == 454
    s.close()


@pytest.mark.parametrize("mode", ["starttls", "tls-on-connect"])
def test_swaks_tls_auth(facteur, mode):
    port = facteur.ports["submission" if mode == "starttls" else "submissions"]
    auth = "PLAIN" if mode == "starttls" else "LOGIN"
    r = subprocess.run(["swaks", "--server", HOST, "--port", str(port), "--ehlo", "client.example",
                        "--tls" if mode == "starttls" else "--tls-on-connect",
                        "--auth", auth, "--auth-user", facteur.user,
                        "--auth-password", facteur.password,
                        "--from", facteur.user, "--to", "demo@example.test",
                        "--header", "Subject: swaks " + mode],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stdout + r.stderr
    (raw,) = pop3_fetch_all(facteur)
    assert ("Subject: swaks " + mode).encode() in raw


@pytest.mark.parametrize("scheme", ["smtp", "smtps"])
def test_curl_submission(facteur, tmp_path, scheme):
    msg = make_message("curl " + scheme, sender=facteur.user)
    path = tmp_path / "msg.eml"
    path.write_bytes(msg)
    port = facteur.ports["submission" if scheme == "smtp" else "submissions"]
    cmd = ["curl", "-sS", "--url", "%s://%s:%d" % (scheme, HOST, port), "-k",
           "--mail-from", facteur.user, "--mail-rcpt", "demo@example.test",
           "--upload-file", str(path), "--user", "%s:%s" % (facteur.user, facteur.password)]
    if scheme == "smtp":
        cmd.append("--ssl-reqd")
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stdout + r.stderr
    (raw,) = pop3_fetch_all(facteur)
    assert raw.endswith(msg)


def test_curl_wrong_password_fails(facteur, tmp_path):
    path = tmp_path / "msg.eml"
    path.write_bytes(make_message("nope", sender=facteur.user))
    r = subprocess.run(["curl", "-sS", "--url", "smtp://%s:%d" % (HOST, facteur.ports["submission"]),
                        "-k", "--ssl-reqd", "--mail-from", facteur.user,
                        "--mail-rcpt", "demo@example.test", "--upload-file", str(path),
                        "--user", facteur.user + ":wrong"],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 67, r.stdout + r.stderr  # CURLE_LOGIN_DENIED
    assert pop3_fetch_all(facteur) == []
