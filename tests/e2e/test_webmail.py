# SPDX-License-Identifier: MIT
"""The webmail in a real browser: Debian's Chromium driven by npm
playwright-core (tests/e2e/web/*.mjs) against a facteur started by the
conftest fixture, over HTTPS. Each test delivers what it needs with
smtplib, runs one browser scenario (it prints one JSON line) and checks
the result, and the server side with imaplib where the scenario changed
something (sent mail, moves, flags)."""
import email
import email.policy
import hashlib
import imaplib
import json
import os
import shutil
import subprocess
import time
import urllib.request
import ssl

import pytest

from conftest import make_message, send_mx, smtp_client, wait_for

WEB = os.path.join(os.path.dirname(os.path.abspath(__file__)), "web")
NODE = shutil.which("node") or "/usr/bin/node"
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
BOB, BOB_PASSWORD = "bob@example.test", "bob-password-42"


def ensure_node_modules():
    """npm ci from the committed lockfile when scripts/deps.sh has not done it yet."""
    if not os.path.isdir(os.path.join(WEB, "node_modules", "playwright-core")):
        subprocess.run(["npm", "ci", "--no-audit", "--no-fund"], cwd=WEB, check=True,
                       capture_output=True, timeout=600)


def node(script, *args, timeout=300):
    p = subprocess.run([NODE, os.path.join(WEB, script), *args], capture_output=True, text=True,
                       timeout=timeout, env={**os.environ, "CHROMIUM": CHROMIUM})
    lines = [l for l in p.stdout.splitlines() if l.startswith("{")]
    assert lines, "no result from %s (rc %d):\n%s\n%s" % (script, p.returncode, p.stdout, p.stderr[-3000:])
    return json.loads(lines[-1])


def scenario(name, **cfg):
    r = node("scenarios.mjs", name, json.dumps(cfg))
    assert r["ok"], r.get("error")
    assert r["dialogs"] == [] and r["pageErrors"] == [] and r["foreign"] == [], r
    return r


@pytest.fixture
def web(make_facteur):
    """facteur with the web app embedded, DKIM keys for its domain, a second
    user, and the browser's base URL."""
    facteur = make_facteur(start=False)
    facteur.cli("dkim", "generate", facteur.domain)
    facteur.add_user(BOB, BOB_PASSWORD)
    facteur.start()
    ensure_node_modules()
    assert os.path.exists(CHROMIUM), "Debian's chromium is needed (scripts/deps.sh test)"
    facteur.base = "https://127.0.0.1:%d" % facteur.ports["https"]
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    page = urllib.request.urlopen(facteur.base + "/", context=ctx, timeout=10).read().decode()
    assert "/assets/app-" in page, "facteur serves no web app: build web/ (npm ci && npm run build) before make"
    facteur.cfg = {"base": facteur.base, "user": facteur.user, "password": facteur.password}
    return facteur


def imap_login(f, user, password):
    m = imaplib.IMAP4(f.host, f.ports["imap"])
    m.starttls(ssl_context=f.tls_context())
    m.login(user, password)
    return m


def imap_messages(f, user, password, mailbox="INBOX"):
    """[(flags, raw bytes)] of every message in mailbox."""
    m = imap_login(f, user, password)
    try:
        typ, _ = m.select('"%s"' % mailbox)
        assert typ == "OK", mailbox
        _, data = m.uid("SEARCH", None, "ALL")
        out = []
        for uid in data[0].split():
            _, d = m.uid("FETCH", uid, "(FLAGS BODY.PEEK[])")
            out.append((d[0][0].decode(), d[0][1]))
        return out
    finally:
        m.logout()


def find(msgs, subject):
    for flags, raw in msgs:
        msg = email.message_from_bytes(raw, policy=email.policy.default)
        if msg["Subject"] == subject:
            return flags, msg
    return None


ATTACHMENT = bytes(range(256)) * 40  # 10 KiB of every byte value
PNG = bytes.fromhex("89504e470d0a1a0a0000000d4948445200000001000000010806000000"
                    "1f15c4890000000d49444154789c63f8cfc0f00f0004850180848a8c21"
                    "0000000049454e44ae426082")


def html_with_attachment(subject):
    """multipart/mixed: multipart/related (HTML + a cid: image) and a PDF attachment."""
    from email.message import EmailMessage
    m = EmailMessage()
    m["From"] = "Carol Example <carol@example.org>"
    m["To"] = "demo@example.test"
    m["Subject"] = subject
    m["Date"] = "Mon, 01 Jan 2024 10:00:00 +0000"
    m["Message-ID"] = "<read-%d@example.org>" % time.time_ns()
    m.set_content("Quarterly report, plain version.")
    m.add_alternative('<html><body><h1>Quarterly report</h1><p>Numbers are <b>up</b>.</p>'
                      '<img alt="cid-image" src="cid:chart@example.org">'
                      '<img alt="remote" src="http://tracker.example.net/open.gif">'
                      '<a href="https://example.com/report">full report</a></body></html>',
                      subtype="html")
    m.get_payload()[1].add_related(PNG, "image", "png", cid="<chart@example.org>")
    m.add_attachment(ATTACHMENT, maintype="application", subtype="pdf", filename="report.pdf")
    return m.as_bytes(policy=email.policy.SMTP)


def test_sign_in_and_out(web):
    r = scenario("signin", **web.cfg)
    assert r["user"] == web.user
    roles = {x["role"] for x in r["folders"]}
    assert "inbox" in roles
    assert "script-src 'self'" in r["csp"] and "'unsafe-inline'" not in r["csp"].split("script-src")[1].split(";")[0]
    assert r["inlineScripts"] == 0
    assert r["meAfterSignOut"] == 401


def test_first_update_before_effects_still_renders(web):
    """The known "login form never appears" stall: boot()'s /api/me answer
    came before Preact's effects subscribed the components to the store, and
    the update was lost. Effects are held back 1.5 s here, so /api/me always
    wins that race; the form must appear anyway."""
    r = scenario("lateEffects", **web.cfg)
    assert 0 < r["meAfter"] < 1500, r  # the race really was lost by the effects
    assert r["formAfter"] >= r["meAfter"]


def test_wrong_password_shows_an_error(web):
    r = scenario("wrongpass", **{**web.cfg, "password": "not-the-password"})
    assert r["error"] == "Wrong address or password."
    assert r["stillOnLogin"]


def test_read_html_mail_with_attachment(web):
    subject = "Quarterly report"
    send_mx(web, html_with_attachment(subject))
    r = scenario("read", subject=subject, **web.cfg)
    assert "Numbers are up." in r["text"]
    assert "allow-scripts" not in r["sandbox"].split()
    assert r["cidOk"], "the cid: image is not shown"
    assert r["remoteBlocked"], "the remote image was not reported blocked"
    assert r["links"] == [{"href": "https://example.com/report", "target": "_blank", "rel": "noopener noreferrer"}]
    assert r["attachments"] == ["report.pdf"]
    assert r["download"]["name"] == "report.pdf"
    assert r["download"]["sha256"] == hashlib.sha256(ATTACHMENT).hexdigest()
    assert "Subject: Quarterly report" in r["headers"].replace(":  ", ": ")
    assert r["seen"]
    # Opening it marked it \Seen on the server.
    flags, _ = find(imap_messages(web, web.user, web.password), subject)
    assert "\\Seen" in flags


class ImageServer:
    """A loopback HTTP server of the test's that serves a 1x1 PNG to any
    GET and counts those requests (GET /count answers the count, uncounted)."""

    def __init__(self):
        import http.server
        import threading
        outer = self
        self.hits = []

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                if self.path == "/count":
                    body = str(len(outer.hits)).encode()
                    ctype = "text/plain"
                else:
                    outer.hits.append(self.path)
                    body, ctype = PNG, "image/png"
                self.send_response(200)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(body)))
                self.send_header("Access-Control-Allow-Origin", "*")
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *a):
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = "http://127.0.0.1:%d" % self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


def test_remote_images_load_only_after_show_images(web):
    """Zero requests to the image server until "Show images" is clicked for
    the message; then the image loads (the frame becomes /mail-frame, whose
    own CSP allows http:/https: images; the app's policy never does). Over
    the plain-HTTP loopback listener so that the http: image is not mixed
    content."""
    images = ImageServer()
    try:
        from email.message import EmailMessage
        m = EmailMessage()
        m["From"] = "Newsletter <news@example.org>"
        m["To"] = web.user
        m["Subject"] = "Pictures inside"
        m["Message-ID"] = "<remote-%d@example.org>" % time.time_ns()
        m.set_content("Pictures, plain version.")
        m.add_alternative('<html><body><p>Remote pixel below.</p>'
                          '<img alt="remote-pixel" src="%s/pixel.png?u=1" width="1" height="1">'
                          '<div style="background:url(%s/bg.png)">bg</div></body></html>'
                          % (images.url, images.url), subtype="html")
        send_mx(web, m.as_bytes(policy=email.policy.SMTP))
        base = "http://127.0.0.1:%d" % web.ports["http"]
        r = scenario("remoteImages", **{**web.cfg, "base": base, "subject": "Pictures inside",
                                        "images": images.url, "allow": [images.url]})
        assert r["before"] == 0 and r["browserBefore"] == 0, r
        assert r["after"] > 0 and r["browserAfter"] > 0, r
        assert "/pixel.png?u=1" in images.hits
        assert "Remote pixel below." in r["text"]
        assert r["bannerGone"]
        csp = r["frameCsp"]
        assert "script-src 'none'" in csp and "img-src http: https: data:" in csp and "sandbox" in csp
    finally:
        images.close()
    # The frame document itself: no script may run in it, framed only by us.
    hdr = urllib.request.urlopen(base + "/mail-frame", timeout=10).headers
    assert hdr["X-Frame-Options"] == "SAMEORIGIN"
    assert "frame-ancestors 'self'" in hdr["Content-Security-Policy"]


def test_keyboard_multiselect_junk_and_folders(web):
    subjects = ["Key one", "Key two", "Key three"]
    for s in subjects:
        send_mx(web, make_message(s, sender="k@example.org"), rcpts=(web.user,))
    r = scenario("keyboardFolders", subjects=subjects, **web.cfg)
    assert len(r["picked"]) == 2 and set(r["picked"]) <= set(subjects), r
    assert "2" in r["nsel"]
    left = [s for s in subjects if s not in r["picked"]]
    assert [s for s in r["inbox"] if s in subjects] == left
    assert r["oldNameLeft"] == 0
    # What IMAP sees: both in Junk (and flagged $junk there), the rest in INBOX.
    junk = imap_messages(web, web.user, web.password, "Junk")
    for s in r["picked"]:
        assert find(junk, s), s
    assert find(imap_messages(web, web.user, web.password), left[0])
    m = imap_login(web, web.user, web.password)
    try:
        _, boxes = m.list()
        names = b" ".join(boxes)
        assert b"Projets" in names and b"Projects" not in names
        assert b"Scratch" not in names
        assert "Scratch" in r["confirmText"]
    finally:
        m.logout()


def test_french_on_a_phone_sized_screen(web):
    send_mx(web, make_message("Petit ecran"), rcpts=(web.user,))
    r = scenario("phoneFrench", subject="Petit ecran", locale="fr-FR",
                 viewport={"width": 390, "height": 844}, **web.cfg)
    assert r["button"] == "Se connecter", r
    assert r["inboxLabel"] == "Boîte de réception", r
    assert r["width"][0] <= r["width"][1], r  # no sideways scrolling
    assert r["msgWidth"] <= 390, r
    assert not r["navBefore"], r  # the folder list is a drawer on a phone


def test_compose_with_attachments_to_local_user(web, tmp_path):
    att = tmp_path / "budget.bin"
    att.write_bytes(ATTACHMENT)
    subject = "Budget for Bob"
    r = scenario("compose", to=BOB, subject=subject, body="Hello Bob,\nthe budget is attached.\n",
                 files=[str(att)], drop={"name": "notes.txt", "type": "text/plain", "text": "dropped notes\n"},
                 **web.cfg)
    assert subject in r["sent"], r
    assert subject not in r["drafts"], r
    got = wait_for(lambda: find(imap_messages(web, BOB, BOB_PASSWORD), subject), timeout=15)
    assert got, "the message did not reach bob"
    _, msg = got
    assert msg["DKIM-Signature"] is not None, "not DKIM-signed"
    assert web.user in msg["From"]
    assert msg.get_content_type() == "multipart/mixed"
    body = msg.get_body(preferencelist=("plain",))
    assert "the budget is attached." in body.get_content()
    atts = {p.get_filename(): p.get_payload(decode=True) for p in msg.iter_attachments()}
    assert atts.get("budget.bin") == ATTACHMENT
    assert atts.get("notes.txt", b"").replace(b"\r\n", b"\n") == b"dropped notes\n"
    # No draft left behind, the copy is in Sent without $draft.
    sent = find(imap_messages(web, web.user, web.password, "Sent"), subject)
    assert sent and "\\Draft" not in sent[0]


def test_reply(web):
    msgid = "<question-%d@example.test>" % time.time_ns()
    with smtp_client(web, "submission") as s:
        s.starttls(context=web.tls_context())
        s.login(BOB, BOB_PASSWORD)
        s.sendmail(BOB, [web.user], make_message("Lunch on Friday?", body="Are you free on Friday?\r\n",
                                                  sender=BOB, to=web.user, msgid=msgid))
    wait_for(lambda: find(imap_messages(web, web.user, web.password), "Lunch on Friday?"), timeout=15)
    r = scenario("reply", subject="Lunch on Friday?", body="Yes, see you there.", **web.cfg)
    assert BOB in r["to"]
    assert r["subject"] == "Re: Lunch on Friday?"
    assert "> Are you free on Friday?" in r["quoted"]
    got = wait_for(lambda: find(imap_messages(web, BOB, BOB_PASSWORD), "Re: Lunch on Friday?"), timeout=15)
    assert got, "the reply did not reach bob"
    _, msg = got
    assert msg["In-Reply-To"].strip() == msgid
    assert msgid in msg["References"]
    assert "Yes, see you there." in msg.get_body(preferencelist=("plain",)).get_content()
    flags, _ = find(imap_messages(web, web.user, web.password), "Lunch on Friday?")
    assert "\\Answered" in flags


def test_move_to_a_new_folder(web):
    """Copy one message and move another into a folder made in the app."""
    send_mx(web, make_message("Keep this one"))
    send_mx(web, make_message("Leave this one"))
    r = scenario("move", subject="Keep this one", copy="Leave this one", folder="Archive 2024",
                 **web.cfg)
    assert "Keep this one" not in r["inbox"] and "Leave this one" in r["inbox"]
    assert sorted(r["moved"]) == ["Keep this one", "Leave this one"]
    archive = imap_messages(web, web.user, web.password, "Archive 2024")
    assert find(archive, "Keep this one") and find(archive, "Leave this one")
    inbox = imap_messages(web, web.user, web.password)
    assert not find(inbox, "Keep this one") and find(inbox, "Leave this one")


def test_search(web):
    send_mx(web, make_message("Alpha notes", body="The zebra crossing is closed.\r\n", sender="ann@example.org"))
    send_mx(web, make_message("Beta notes", body="Nothing to see.\r\n", sender="ben@example.org"))
    send_mx(web, make_message("Gamma notes", body="Also nothing.\r\n", sender="ann@example.org"))
    r = scenario("search", text="zebra", **{**web.cfg, "from": "ann@example.org"})
    assert r["byText"] == ["Alpha notes"]
    assert sorted(r["byFrom"]) == ["Alpha notes", "Gamma notes"]


def test_search_by_dates_and_attachments(web):
    """Old mail put in with IMAP APPEND's internal date (JMAP receivedAt),
    with and without attachments; the advanced search's date fields and
    "has attachment" box."""
    from email.message import EmailMessage

    def msg(subject, attach):
        m = EmailMessage()
        m["From"] = "archive@example.org"
        m["To"] = web.user
        m["Subject"] = subject
        m.set_content("Archived mail.")
        if attach:
            m.add_attachment(ATTACHMENT, maintype="application", subtype="pdf", filename="a.pdf")
        return m.as_bytes(policy=email.policy.SMTP)

    m = imap_login(web, web.user, web.password)
    try:
        for subject, attach, when in [("Old report", True, "01-Mar-2020 10:00:00 +0000"),
                                      ("Old note", False, "02-Mar-2020 10:00:00 +0000")]:
            typ, _ = m.append("INBOX", None, '"%s"' % when, msg(subject, attach))
            assert typ == "OK"
    finally:
        m.logout()
    send_mx(web, msg("New report", True))
    r = scenario("searchAdvanced", queries=[
        {"before": "2021-01-01"},
        {"after": "2021-01-01", "hasAttachment": True},
        {"before": "2021-01-01", "hasAttachment": True},
        {"after": "2020-03-02", "before": "2020-03-02"},
    ], **web.cfg)
    assert r["results"] == [["Old note", "Old report"], ["New report"], ["Old report"], ["Old note"]], r


def test_settings_identity_vacation_password(web):
    new_password = "a-new-password-77"
    r = scenario("settings", idName="Demo Person", signature="-- \nDemo", vacSubject="Away",
             vacBody="Back on Monday.", newPassword=new_password, **web.cfg)
    # What JMAP says afterwards, with the new password (Basic, loopback).
    import base64
    cred = base64.b64encode(("%s:%s" % (web.user, new_password)).encode()).decode()
    body = json.dumps({"using": ["urn:ietf:params:jmap:core", "urn:ietf:params:jmap:mail",
                                 "urn:ietf:params:jmap:submission",
                                 "urn:ietf:params:jmap:vacationresponse"],
                       "methodCalls": [["Identity/get", {"accountId": "a1"}, "0"],
                                       ["VacationResponse/get", {"accountId": "a1"}, "1"]]}).encode()
    req = urllib.request.Request("http://127.0.0.1:%d/jmap/api" % web.ports["http"], data=body,
                                 headers={"Authorization": "Basic " + cred,
                                          "Content-Type": "application/json"})
    out = json.load(urllib.request.urlopen(req, timeout=10))["methodResponses"]
    ident = out[0][1]["list"][0]
    assert ident["name"] == "Demo Person" and ident["textSignature"] == "-- \nDemo", ident
    vac = out[1][1]["list"][0]
    assert vac["isEnabled"] is True and vac["subject"] == "Away" and vac["textBody"] == "Back on Monday."
    # The app's own VacationResponse/set was accepted (it once sent the immutable id).
    assert "singleton" in r["vacation"]["methodResponses"][0][1]["updated"], r["vacation"]
    # IMAP takes the new password and no longer the old one.
    imap_login(web, web.user, new_password).logout()
    with pytest.raises(imaplib.IMAP4.error):
        imap_login(web, web.user, web.password)


def test_not_spam_and_draft_saved_while_typing(web):
    m = imap_login(web, web.user, web.password)
    try:
        typ, _ = m.append("Junk", "($Junk)", None, make_message("Wrongly junked"))
        assert typ == "OK"
    finally:
        m.logout()
    r = scenario("notSpamAndDraft", junkSubject="Wrongly junked", to=BOB,
                 draftSubject="Half-written", **web.cfg)
    assert r["label"] == "Not spam"
    got = find(imap_messages(web, web.user, web.password), "Wrongly junked")
    assert got, "not back in INBOX"
    flags = got[0].lower()
    assert "$notjunk" in flags and "$junk" not in flags.replace("$notjunk", ""), got[0]
    assert not find(imap_messages(web, web.user, web.password, "Junk"), "Wrongly junked")
    draft = find(imap_messages(web, web.user, web.password, "Drafts"), "Half-written")
    assert draft and "\\Draft" in draft[0], draft
    assert "Typing, not sending." in draft[1].get_body(("plain",)).get_content()


def test_new_mail_appears_live(web):
    cfg = {**web.cfg, "subject": "Live delivery"}
    p = subprocess.Popen([NODE, os.path.join(WEB, "scenarios.mjs"), "live", json.dumps(cfg)],
                         stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                         env={**os.environ, "CHROMIUM": CHROMIUM})
    try:
        ready = json.loads(p.stdout.readline() or "{}")
        assert ready.get("ready"), p.stderr.read()[-3000:]
        send_mx(web, make_message("Live delivery"))
        delivered = time.time()
        p.stdin.write("delivered\n")
        p.stdin.flush()
        out, err = p.communicate(timeout=60)
    finally:
        if p.poll() is None:
            p.kill()
    r = json.loads([l for l in out.splitlines() if l.startswith("{")][-1])
    assert r["ok"], r.get("error")
    assert r["reloads"] == 1
    assert r["seenAt"] - delivered < 1.0, "shown %.3f s after delivery" % (r["seenAt"] - delivered)


def test_hostile_corpus(web, tmp_path):
    """≥ 200 hostile HTML/MIME samples: zero script executions, zero foreign requests."""
    d = tmp_path / "hostile"
    n = int(subprocess.run([NODE, os.path.join(WEB, "hostile.mjs"), str(d)], check=True,
                           capture_output=True, text=True).stdout.strip())
    assert n >= 200
    with smtp_client(web) as s:
        for name in sorted(os.listdir(d)):
            raw = (d / name).read_bytes().replace(b"{TO}", web.user.encode())
            assert s.sendmail("hostile@evil.test", [web.user], raw) == {}
    r = node("hostile-run.mjs", json.dumps({**web.cfg, "count": n}), timeout=900)
    assert r["ok"], r.get("error")
    assert r["opened"] == n and r["rendered"] == n, (r["opened"], r["rendered"])
    assert r["canaries"] == [], r["canaries"]
    assert r["dialogs"] == [], r["dialogs"]
    assert r["pageErrors"] == [], r["pageErrors"]
    assert r["foreign"] == [], r["foreign"]
    assert r["csp"] == [], r["csp"]
    assert r["sameOrigin"] == [], r["sameOrigin"]
    assert r["signedInAfter"]


def shared_scenario(web, rights, subject, body, name="shared"):
    """The owner (the demo user) puts one message in Team and shares Team
    with bob (`facteur share`); bob has one message of his own; then the
    "shared" browser scenario as bob."""
    m = imap_login(web, web.user, web.password)
    assert m.create("Team")[0] == "OK"
    assert m.append("Team", None, None, make_message(subject, body=body + "\r\n"))[0] == "OK"
    m.logout()
    assert web.cli("share", web.user, "Team", BOB, rights).returncode == 0
    send_mx(web, make_message("For bob"), rcpts=(BOB,))
    cfg = dict(web.cfg, user=BOB, password=BOB_PASSWORD)
    return scenario(name, folder="Team", subject=subject, body=body, own="For bob", **cfg)


def test_shared_folder_read_only(web):
    """The owner (the demo user) shares Team read-only with bob (`facteur
    share`): bob's webmail shows it under "Other users", reads a message
    (his own \\Seen; the owner's stays unset over IMAP), and offers no
    delete, move, flag or mark-read there."""
    r = shared_scenario(web, "lr", "Team plans", "Shared plans inside.")
    assert r["heading"] == "Other users" and r["owner"] == web.user
    assert r["subjects"] == ["Team plans"] and r["body"]
    assert r["toolbars"] > 0 and r["actions"] == [], r
    assert {"delete", "seen", "flag", "junk"} <= set(r["own"])
    flags, _ = find(imap_messages(web, web.user, web.password, "Team"), "Team plans")
    assert "\\Seen" not in flags


def test_shared_folder_seen_is_the_readers(web):
    """With 's' (lrs), opening a shared message in bob's webmail marks it
    read for bob only: over IMAP bob sees \\Seen, the owner does not; the
    toolbar there offers mark-read but no delete or move."""
    r = shared_scenario(web, "lrs", "Team minutes", "Minutes inside.")
    assert r["actions"] == ["seen"], r
    shared = "Other Users/%s/Team" % web.user
    deadline = time.time() + 5
    while True:
        flags, _ = find(imap_messages(web, BOB, BOB_PASSWORD, shared), "Team minutes")
        if "\\Seen" in flags or time.time() > deadline:
            break
        time.sleep(0.2)
    assert "\\Seen" in flags
    flags, _ = find(imap_messages(web, web.user, web.password, "Team"), "Team minutes")
    assert "\\Seen" not in flags


def test_shared_folder_move_both_ways(web):
    """With lrswite on Team, bob moves his own message into the owner's
    shared folder and the owner's message out to his inbox, from the
    reader's Move menu (Email/copy with onSuccessDestroyOriginal across the
    two JMAP accounts); IMAP shows each message in its new place only."""
    r = shared_scenario(web, "lrswite", "Team budget", "Budget inside.", name="sharedMove")
    assert sorted(r["shared"]) == ["For bob", "Team budget"], r
    assert r["sharedAfter"] == ["For bob"], r
    assert "Team budget" in r["own"] and "For bob" not in r["own"], r
    team = imap_messages(web, web.user, web.password, "Team")
    assert find(team, "For bob") and not find(team, "Team budget")
    inbox = imap_messages(web, BOB, BOB_PASSWORD)
    assert find(inbox, "Team budget") and not find(inbox, "For bob")
