# SPDX-License-Identifier: MIT
"""Forwarding that still passes SPF (issue 10 part 3): mail received on the
MX port for an alias that forwards to a remote address is queued with an
SRS envelope sender, and bounces sent to such an address go on to the
original sender. The addresses are checked both ways against Debian's
`srs` (Mail::SRS), an implementation nobody here wrote: it reverses ours,
and we accept its (and refuse forged or expired ones)."""
import re
import subprocess

import pytest

from conftest import make_message, smtp_client

SECRET = "e2e-srs-secret"
SRS_DOMAIN = "srs.example.test"


def perl_srs(*args):
    return subprocess.run(["srs", "--secret", SECRET, *args], capture_output=True, text=True,
                          check=True, timeout=30).stdout.strip()


@pytest.fixture(scope="module")
def f(tmp_path_factory):
    from conftest import Facteur
    fa = Facteur(tmp_path_factory.mktemp("srs") / "facteur",
                 f"srs_secret = {SECRET}\nsrs_domain = {SRS_DOMAIN}\n")
    fa.cli("alias", "add", "fwd@example.test", "friend@remote.example")
    fa.start()
    yield fa
    assert fa.stop() == 0, fa.logs()[-3000:]


def queued(f):
    """(sender, recipient) of every queue entry."""
    return re.findall(r"<([^>]*)> -> <([^>]*)>", f.cli("queue", "list").stdout)


def test_forwarded_mail_gets_srs_sender(f):
    with smtp_client(f) as s:
        s.sendmail("alice@sender.example", ["fwd@example.test"], make_message("forwarded"))
    (sender, rcpt), = [q for q in queued(f) if q[1] == "friend@remote.example"]
    assert sender.startswith("SRS0=") and sender.endswith("=sender.example=alice@" + SRS_DOMAIN)
    assert perl_srs("--reverse", sender) == "alice@sender.example"

    # Already rewritten by a first forwarder: SRS1 naming it, and back.
    first = "SRS0=abcd=JZ=orig.example=carol@fwd1.example"
    with smtp_client(f) as s:
        s.sendmail(first, ["fwd@example.test"], make_message("twice"))
    srs1 = [q[0] for q in queued(f) if q[0].startswith("SRS1=")]
    assert len(srs1) == 1, queued(f)
    assert perl_srs("--reverse", srs1[0]) == first


def test_bounce_to_srs_address_goes_to_original_sender(f):
    addr = perl_srs("--address", "bob@origin.example", "--alias", SRS_DOMAIN)
    with smtp_client(f) as s:
        s.ehlo()
        assert s.mail("")[0] == 250
        code, text = s.rcpt(addr)
        assert code == 250, text
        # Forged: another hash, another user, or 30 days old.
        forged = addr[:5] + ("A" if addr[5] != "A" else "B") + addr[6:]
        assert s.rcpt(forged)[0] == 550
        assert s.rcpt(addr.replace("=bob@", "=eve@"))[0] == 550
        old = subprocess.run(
            ["perl", "-e", "BEGIN { *CORE::GLOBAL::time = sub { CORE::time() - 30 * 86400 } }"
             " use Mail::SRS; print Mail::SRS->new(Secret => $ARGV[0])"
             "->forward('old@origin.example', $ARGV[1])", SECRET, SRS_DOMAIN],
            capture_output=True, text=True, check=True).stdout
        assert old.startswith("SRS0=")
        assert s.rcpt(old)[0] == 550
        code, text = s.data(b"Subject: delivery failure\r\n\r\nbounced\r\n")
        assert code == 250, text
    assert ("", "bob@origin.example") in queued(f)


def test_submission_keeps_the_users_sender(f):
    """A user's own mail to a remote address is not forwarding: no SRS."""
    from test_submission import submission
    s = submission(f)
    s.login(f.user, f.password)
    s.sendmail(f.user, ["far@remote.example"], make_message("mine", sender=f.user))
    s.quit()
    assert (f.user, "far@remote.example") in queued(f)
