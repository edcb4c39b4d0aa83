# SPDX-License-Identifier: MIT
"""SPF, DKIM and DMARC end to end, on the two-instance set-up of
test_queue.py: A (a.test, 127.0.0.2, sending from that address with
outbound_address) signs what its users submit with keys made by `facteur
dkim generate`; B (b.test, 127.0.0.3) verifies what reaches its MX. A local
unbound serves A's DKIM records, SPF "v=spf1 ip4:127.0.0.2 -all" and DMARC
p=reject for a.test, and p=quarantine for q.test. Checked: a signed message
arrives with dkim=pass spf=pass dmarc=pass in Authentication-Results (and
still does after a key rotation with `dkim activate`, daemon running); a
forgery from another address is refused 550 5.7.1 at the end of DATA; a
p=quarantine forgery lands in Junk (seen with imaplib); a forged
Authentication-Results naming B is removed; `facteur dns-records`."""
import imaplib
import smtplib

import pytest

from conftest import (Unbound, header_values, make_message, pop3_fetch_all,
                      submit, wait_for)

A_HOST = "127.0.0.2"
B_HOST = "127.0.0.3"
FORGER = "127.0.0.9"

ZONE = [
    "b.test. IN MX 10 mx.b.test.",
    f"mx.b.test. IN A {B_HOST}",
    f'a.test. IN TXT "v=spf1 ip4:{A_HOST} -all"',
    '_dmarc.a.test. IN TXT "v=DMARC1; p=reject; rua=mailto:postmaster@a.test"',
    f'q.test. IN TXT "v=spf1 ip4:{A_HOST} -all"',
    '_dmarc.q.test. IN TXT "v=DMARC1; p=quarantine"',
]


def dkim_records(output):
    """The zone-file lines printed by `facteur dkim generate`."""
    return [l for l in output.splitlines() if l.strip() and not l.startswith(";")]


@pytest.fixture
def pair(make_facteur, tmp_path):
    """A and B configured, A's keys (selectors t1, active, and t2) published,
    both started; yields (a, b)."""
    b = make_facteur("b", host=B_HOST, domain="b.test", start=False)
    a = make_facteur("a", host=A_HOST, domain="a.test", start=False)
    records = dkim_records(a.cli("dkim", "generate", "a.test", "--selector", "t1").stdout)
    records += dkim_records(a.cli("dkim", "generate", "a.test", "--selector", "t2").stdout)
    assert len(records) == 4, records
    (tmp_path / "unbound").mkdir()
    with Unbound(tmp_path / "unbound", ZONE + records) as port:
        b.write_config(f"dns_forward = 127.0.0.1@{port}\nmailauth_verify = yes\n")
        b.start()
        a.write_config(f"dns_forward = 127.0.0.1@{port}\nrelay_port = {b.ports['smtp']}\n"
                       f"outbound_address = {A_HOST}\nqueue_retry_min = 1\n"
                       "outbound_private = yes\n")
        a.start()
        yield a, b
        for f in (a, b):  # clean exit: no leak report from LeakSanitizer either
            rc = f.stop()
            assert rc == 0, "exit %r:\n%s" % (rc, f.logs()[-5000:])
            assert "Sanitizer" not in f.logs(), f.logs()[-5000:]


def results(raw):
    values = header_values(raw, "Authentication-Results")
    assert len(values) == 1, values
    return values[0].decode()


def send_forged(b, sender, from_header, subject, extra_headers=""):
    """Straight to B's MX from an address no SPF record names, unsigned."""
    msg = make_message(subject, sender=from_header, to="demo@b.test",
                       extra_headers=extra_headers)
    with smtplib.SMTP(B_HOST, b.ports["smtp"], local_hostname="forger.example",
                      timeout=60, source_address=(FORGER, 0)) as s:
        return s.sendmail(sender, ["demo@b.test"], msg)


def test_signed_mail_passes_and_rotation(pair):
    a, b = pair
    submit(a, ["demo@b.test"], "signed by a")
    msgs = wait_for(lambda: pop3_fetch_all(b), timeout=30)
    assert len(msgs) == 1, (a.logs()[-3000:], b.logs()[-3000:])
    raw = msgs[0]
    sigs = header_values(raw, "DKIM-Signature")
    assert len(sigs) == 2
    assert b"a=rsa-sha256" in sigs[0] and b"s=t1-rsa" in sigs[0]
    assert b"a=ed25519-sha256" in sigs[1] and b"s=t1-ed25519" in sigs[1]
    ar = results(raw)
    assert ar.startswith("mx.b.test;"), ar
    assert "spf=pass smtp.mailfrom=demo@a.test" in ar
    assert ar.count("dkim=pass") == 2, ar
    assert "header.d=a.test header.s=t1-rsa" in ar
    assert "dmarc=pass (p=reject) header.from=a.test" in ar
    assert "dkim.signed" in a.logs() and "event=mailauth.result" in b.logs()

    # Rotation: activate t2 while A runs; the next message uses it.
    assert "now signs with selector t2" in a.cli("dkim", "activate", "a.test", "t2").stdout
    submit(a, ["demo@b.test"], "signed with t2")
    msgs = wait_for(lambda: len(pop3_fetch_all(b)) == 2 and pop3_fetch_all(b), timeout=30)
    assert msgs, b.logs()[-3000:]
    raw = [m for m in msgs if b"signed with t2" in m][0]
    ar = results(raw)
    assert "header.s=t2-rsa" in ar and "header.s=t2-ed25519" in ar, ar
    assert ar.count("dkim=pass") == 2 and "dmarc=pass" in ar, ar
    listing = a.cli("dkim", "list").stdout
    assert "t1" in listing and "t2" in listing and "(active)" in listing


def test_forgery_rejected_by_dmarc(pair):
    a, b = pair
    with pytest.raises(smtplib.SMTPDataError) as e:
        send_forged(b, "ceo@a.test", "ceo@a.test", "urgent wire transfer")
    assert e.value.smtp_code == 550 and b"5.7.1" in e.value.smtp_error
    assert b"DMARC" in e.value.smtp_error
    assert "action=reject" in b.logs()
    assert pop3_fetch_all(b) == []


def test_quarantine_goes_to_junk(pair):
    a, b = pair
    forged_ar = "Authentication-Results: mx.b.test; dmarc=pass header.from=q.test\r\n"
    assert send_forged(b, "news@q.test", "news@q.test", "you won", forged_ar) == {}
    assert pop3_fetch_all(b) == []  # not in INBOX
    imap = imaplib.IMAP4(B_HOST, b.ports["imap"], timeout=30)
    try:
        imap.login(b.user, b.password)
        typ, data = imap.select("Junk")
        assert typ == "OK" and data[0] == b"1", data
        typ, data = imap.fetch("1", "(BODY.PEEK[HEADER])")
        head = data[0][1]
        values = header_values(head + b"\r\n", "Authentication-Results")
        assert len(values) == 1, values  # the forged one is gone
        ar = values[0].decode()
        assert "spf=fail smtp.mailfrom=news@q.test" in ar
        assert "dkim=none" in ar and "dmarc=fail (p=quarantine) header.from=q.test" in ar
        imap.logout()
    finally:
        try:
            imap.shutdown()
        except OSError:
            pass


def test_dns_records_and_cli_errors(pair):
    a, b = pair
    out = a.cli("dns-records", "a.test").stdout
    assert "a.test. IN MX 10 mx.a.test." in out
    assert 'a.test. IN TXT "v=spf1 mx -all"' in out
    assert "t1-rsa._domainkey.a.test. IN TXT" in out
    assert "t1-ed25519._domainkey.a.test. IN TXT" in out
    assert '_dmarc.a.test. IN TXT "v=DMARC1; p=quarantine; rua=mailto:postmaster@a.test"' in out
    assert a.cli("dkim", "generate", "a.test", "--selector", "t1", check=False).returncode == 1
    assert a.cli("dkim", "generate", "nowhere.test", check=False).returncode == 1
    assert a.cli("dkim", "activate", "a.test", "nope", check=False).returncode == 1
    assert a.cli("dkim", "bogus", check=False).returncode == 2
    assert a.cli("dns-records", "nowhere.test", check=False).returncode == 1
    assert "no DKIM key yet" in b.cli("dns-records", "b.test").stdout
