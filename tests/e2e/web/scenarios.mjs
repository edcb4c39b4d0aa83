// SPDX-License-Identifier: MIT
// The webmail's browser scenarios (issue 7 §6), one per run:
//   node scenarios.mjs NAME '{"base":"https://127.0.0.1:PORT","user":"...","password":"...",...}'
// Each prints one JSON line with what it saw (test_webmail.py asserts on
// it, and checks the server side over IMAP). A scenario fails by
// throwing: the line then has ok=false and the error.
import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import { launch, openMessage, openPage, readLine, report, row, signIn, signedIn } from "./lib.mjs";

const [name, json] = process.argv.slice(2);
const cfg = JSON.parse(json || "{}");

async function listSubjects(page) {
	await page.locator("ul.messages[aria-busy='false']").waitFor({ state: "attached" });
	return page.locator("ul.messages li.row .subject").allInnerTexts();
}

async function folder(page, label) {
	const sel = `nav .folder[data-name="${label}"], nav .folder[data-role="${label}"]`;
	await page.locator(sel).first().click();
	/* The render that marks it current also marks the list busy: only then
	 * does aria-busy=false mean this folder's list (not the previous one). */
	await page.locator(`nav .folder.current[data-name="${label}"], nav .folder.current[data-role="${label}"]`).first().waitFor();
	await page.locator("ul.messages[aria-busy='false']").waitFor({ state: "attached" });
}

/* Fill the composer and send; returns when the app says it is sent. */
async function sendFromComposer(page, c) {
	if (c.to !== undefined) await page.locator("#compose-to").fill(c.to);
	if (c.subject !== undefined) await page.locator("#compose-subject").fill(c.subject);
	if (c.body !== undefined) {
		const area = page.locator("#compose-body");
		const old = await area.inputValue();
		await area.fill(c.body + old);
	}
	for (const f of c.files || []) {
		await page.locator("#compose-file").setInputFiles(f);
		await page.locator(".compose-atts li.att:not(.uploading)", { hasText: f.split("/").pop() }).waitFor();
	}
	for (const d of c.drop || []) {
		/* A real drop event carrying a File, as a drag from the desktop would. */
		const dt = await page.evaluateHandle(({ name, data, type }) => {
			const t = new DataTransfer();
			t.items.add(new File([Uint8Array.from(atob(data), (ch) => ch.charCodeAt(0))], name, { type }));
			return t;
		}, d);
		await page.locator("section.compose").dispatchEvent("dragover", { dataTransfer: dt });
		await page.locator("section.compose").dispatchEvent("drop", { dataTransfer: dt });
		await page.locator(".compose-atts li.att:not(.uploading)", { hasText: d.name }).waitFor();
	}
	if (c.waitDraft) await page.locator(".compose-foot .status", { hasText: "Draft saved" }).waitFor({ timeout: 15000 });
	await page.locator("button[data-action='send']").click();
	await page.locator(".notice", { hasText: "Message sent." }).waitFor({ timeout: 20000 });
	await page.locator("section.compose").waitFor({ state: "detached" });
}

const scenarios = {
	async signin(page) {
		await signedIn(page, cfg.base, cfg.user, cfg.password);
		const folders = await page.locator("nav .folder").evaluateAll((els) => els.map((e) => ({ name: e.dataset.name, role: e.dataset.role || null })));
		const csp = await page.evaluate(async () => (await fetch("/")).headers.get("content-security-policy"));
		const inline = await page.evaluate(() => [...document.scripts].filter((s) => !s.src).length);
		const user = await page.locator("#current-user").innerText();
		/* Sign out: back to the form, and the session is gone. */
		await page.locator("#sign-out").click();
		await page.locator("#login-user").waitFor();
		const after = await page.evaluate(async () => (await fetch("/api/me")).status);
		return { user, folders, csp, inlineScripts: inline, meAfterSignOut: after };
	},

	async wrongpass(page) {
		await signIn(page, cfg.base, cfg.user, cfg.password);
		const err = page.locator("#login-error");
		await err.waitFor({ timeout: 15000 });
		return { error: await err.innerText(), stillOnLogin: await page.locator("#login-user").isVisible() };
	},

	async read(page, watch) {
		await signedIn(page, cfg.base, cfg.user, cfg.password);
		await openMessage(page, cfg.subject);
		const frame = page.frameLocator("iframe.mail-frame").first();
		await frame.locator("body").waitFor();
		const text = await frame.locator("body").innerText();
		const sandbox = await page.locator("iframe.mail-frame").first().getAttribute("sandbox");
		const cidOk = await frame.locator("img[alt='cid-image']").evaluate((img) => img.complete && img.naturalWidth > 0 && img.src.startsWith("data:image/")).catch(() => false);
		const remoteBlocked = await page.locator(".remote-banner").isVisible();
		const links = await frame.locator("a").evaluateAll((as) => as.map((a) => ({ href: a.getAttribute("href"), target: a.target, rel: a.rel })));
		const attachments = await page.locator("section.attachments a.attachment .att-name").allInnerTexts();
		/* Download the attachment as a user would. */
		const [dl] = await Promise.all([page.waitForEvent("download"), page.locator("section.attachments a.attachment").first().click()]);
		const path = await dl.path();
		const data = readFileSync(path);
		/* Headers on demand. */
		await page.getByRole("button", { name: "Show headers" }).first().click();
		const headers = await page.locator("pre.raw-headers").innerText();
		const seen = await row(page, cfg.subject).first().evaluate((li) => !li.classList.contains("unread"));
		return {
			text, sandbox, cidOk, remoteBlocked, links, attachments, download: { name: dl.suggestedFilename(), size: data.length, sha256: createHash("sha256").update(data).digest("hex") },
			headers, seen, foreign: watch.foreign,
		};
	},

	/*
	 * Remote images: none is fetched until the reader clicks "Show images"
	 * for the message, then they load. cfg.images is a loopback HTTP server
	 * of the test's that counts the requests it gets (GET /count).
	 */
	async remoteImages(page, watch) {
		const count = async () => Number(await (await fetch(cfg.images + "/count")).text());
		await signedIn(page, cfg.base, cfg.user, cfg.password);
		await openMessage(page, cfg.subject);
		const frame = page.frameLocator("iframe.mail-frame").first();
		await frame.locator("body").waitFor();
		await page.locator(".remote-banner").waitFor();
		await page.waitForTimeout(1000); /* time for anything that would leak */
		const before = await count();
		const browserBefore = watch.allowed;
		await page.locator("[data-action='show-images']").click();
		const img = page.frameLocator("iframe.mail-frame").first().locator("img[alt='remote-pixel']");
		await img.waitFor({ state: "attached" });
		await page.waitForFunction(async () => {
			const f = document.querySelector("iframe.mail-frame");
			const i = f && f.contentDocument && f.contentDocument.querySelector("img[alt='remote-pixel']");
			return !!i && i.complete && i.naturalWidth > 0;
		}, null, { timeout: 10000 });
		const after = await count();
		const frameCsp = await page.evaluate(async () => (await fetch("/mail-frame")).headers.get("content-security-policy"));
		const text = await frame.locator("body").innerText();
		const bannerGone = !(await page.locator(".remote-banner").isVisible());
		return { before, browserBefore, after, browserAfter: watch.allowed, frameCsp, text, bannerGone };
	},

	async compose(page) {
		await signedIn(page, cfg.base, cfg.user, cfg.password);
		await page.getByRole("button", { name: "Compose" }).first().click();
		await sendFromComposer(page, {
			to: cfg.to, subject: cfg.subject, body: cfg.body, files: cfg.files,
			drop: cfg.drop ? [{ name: cfg.drop.name, type: cfg.drop.type, data: Buffer.from(cfg.drop.text).toString("base64") }] : [],
			waitDraft: true,
		});
		/* Sent holds it, Drafts no longer does. */
		await folder(page, "sent");
		const sent = await listSubjects(page);
		await folder(page, "drafts");
		const drafts = await listSubjects(page);
		return { sent, drafts };
	},

	async reply(page) {
		await signedIn(page, cfg.base, cfg.user, cfg.password);
		await openMessage(page, cfg.subject);
		await page.locator("button[data-action='reply']").last().click();
		const to = await page.locator("#compose-to").inputValue();
		const subject = await page.locator("#compose-subject").inputValue();
		const quoted = await page.locator("#compose-body").inputValue();
		await sendFromComposer(page, { body: cfg.body });
		return { to, subject, quoted };
	},

	/* A folder another user shares: its group in the tree, read, the actions the rights allow. */
	async shared(page) {
		await signedIn(page, cfg.base, cfg.user, cfg.password);
		const group = page.locator(`nav .shared-group[data-group="other"]`);
		await group.waitFor();
		const heading = await group.locator("h2").innerText();
		const owner = await group.locator("ul.tree").first().getAttribute("data-owner");
		await folder(page, cfg.folder);
		const subjects = await listSubjects(page);
		await openMessage(page, cfg.subject);
		const reader = page.locator("article.msg").first();
		const text = await reader.innerText();
		const toolbars = await page.locator(".toolbar").count();
		const actions = await page.locator(".toolbar button[data-action]:visible").evaluateAll(
			(bs) => [...new Set(bs.map((b) => b.getAttribute("data-action")))].sort());
		/* Back to the own INBOX: its actions are all there again. */
		await folder(page, "inbox");
		await openMessage(page, cfg.own);
		const own = await page.locator(".toolbar button[data-action]:visible").evaluateAll(
			(bs) => [...new Set(bs.map((b) => b.getAttribute("data-action")))].sort());
		return { heading, owner, subjects, body: text.includes(cfg.body), toolbars, actions, own };
	},

	/* Move between accounts (Email/copy): an own message into the shared folder, a shared one out to the inbox. */
	async sharedMove(page) {
		await signedIn(page, cfg.base, cfg.user, cfg.password);
		await page.locator(`nav .shared-group[data-group="other"]`).waitFor();
		await openMessage(page, cfg.own);
		const into = await page.locator("#reader-move optgroup option", { hasText: cfg.folder }).getAttribute("value");
		await page.locator("#reader-move").selectOption(into);
		await row(page, cfg.own).waitFor({ state: "detached", timeout: 10000 });
		await folder(page, cfg.folder);
		const shared = await listSubjects(page);
		await openMessage(page, cfg.subject);
		const inbox = await page.locator("#reader-move > option", { hasText: "Inbox" }).getAttribute("value");
		await page.locator("#reader-move").selectOption(inbox);
		await row(page, cfg.subject).waitFor({ state: "detached", timeout: 10000 });
		const sharedAfter = await listSubjects(page);
		await folder(page, "inbox");
		const own = await listSubjects(page);
		return { shared, sharedAfter, own };
	},

	async move(page) {
		await signedIn(page, cfg.base, cfg.user, cfg.password);
		/* A new folder, made in the app, then the message moved there with the toolbar. */
		await page.getByRole("button", { name: "New folder" }).click();
		await page.locator("#folder-name").fill(cfg.folder);
		await page.locator("form.folder-form button[type='submit']").click();
		await page.locator(`nav .folder[data-name="${cfg.folder}"]`).waitFor();
		/* Another message copied there first (a copy in one account: Email/import of its blob). */
		await openMessage(page, cfg.copy);
		const copyTo = await page.locator("#reader-copy option", { hasText: cfg.folder }).getAttribute("value");
		await page.locator("#reader-copy").selectOption(copyTo);
		await openMessage(page, cfg.subject);
		const folderId = await page.locator("#reader-move option", { hasText: cfg.folder }).getAttribute("value");
		await page.locator("#reader-move").selectOption(folderId);
		await row(page, cfg.subject).waitFor({ state: "detached", timeout: 10000 });
		const inbox = await listSubjects(page);
		await folder(page, cfg.folder);
		await row(page, cfg.copy).waitFor({ timeout: 10000 });
		const moved = await listSubjects(page);
		return { inbox, moved };
	},

	async search(page) {
		await signedIn(page, cfg.base, cfg.user, cfg.password);
		await page.keyboard.press("/");
		await page.keyboard.type(cfg.text);
		await page.keyboard.press("Enter");
		await page.locator(".list-title", { hasText: "Search results" }).waitFor();
		const byText = await listSubjects(page);
		/* Advanced: by sender. */
		await page.getByRole("button", { name: "Clear search" }).click();
		await page.locator(".list-title", { hasText: "Search results" }).waitFor({ state: "detached" });
		await page.getByRole("button", { name: "Advanced search" }).click();
		await page.locator("input[name='search-from']").fill(cfg.from);
		await page.locator("#search-adv button[type='submit']").click();
		await page.locator(".list-title", { hasText: "Search results" }).waitFor();
		const byFrom = await listSubjects(page);
		return { byText, byFrom };
	},

	/* Settings: identity name and signature, vacation reply, password change. */
	async settings(page) {
		await signedIn(page, cfg.base, cfg.user, cfg.password);
		await page.locator(".sidebar-foot").getByRole("button", { name: "Settings" }).click();
		await page.locator("#id-name").waitFor();
		await page.locator("#id-name").fill(cfg.idName);
		await page.locator("#id-sig").fill(cfg.signature);
		await page.locator("form[aria-labelledby='set-identity'] button[type=submit]").click();
		await page.locator(".notice", { hasText: "Saved." }).waitFor();
		await page.locator("#vac-subject").waitFor();
		await page.locator("#vac-on").setChecked(true);
		await page.locator("#vac-subject").fill(cfg.vacSubject);
		await page.locator("#vac-body").fill(cfg.vacBody);
		const [vres] = await Promise.all([
			page.waitForResponse((r) => r.url().endsWith("/jmap/api") && (r.request().postData() || "").includes("VacationResponse/set")),
			page.locator("form[aria-labelledby='set-vacation'] button[type=submit]").click(),
		]);
		const vacation = await vres.json();
		await page.locator("#pw-old").fill(cfg.password);
		await page.locator("#pw-new").fill(cfg.newPassword);
		await page.locator("#pw-new2").fill(cfg.newPassword);
		await page.locator("form[aria-labelledby='set-password'] button[type=submit]").click();
		await page.getByText("Password changed.").waitFor();
		return { vacation };
	},

	/* "Not spam" from the Junk folder, then a draft saved while typing (not sent). */
	async notSpamAndDraft(page) {
		await signedIn(page, cfg.base, cfg.user, cfg.password);
		await folder(page, "junk");
		await openMessage(page, cfg.junkSubject);
		const button = page.locator("button[data-action='junk']:visible").first();
		const label = (await button.innerText()).trim();
		await button.click();
		await row(page, cfg.junkSubject).waitFor({ state: "detached" });
		await page.getByRole("button", { name: "Compose" }).first().click();
		await page.locator("#compose-to").fill(cfg.to);
		await page.locator("#compose-subject").fill(cfg.draftSubject);
		await page.locator("#compose-body").fill("Typing, not sending.");
		await page.locator(".compose-foot .status", { hasText: "Draft saved" }).waitFor({ timeout: 15000 });
		return { label };
	},

	/* Advanced search by dates and attachments: one result list per cfg.queries entry. */
	async searchAdvanced(page) {
		await signedIn(page, cfg.base, cfg.user, cfg.password);
		const out = [];
		for (const q of cfg.queries) {
			await page.getByRole("button", { name: "Advanced search" }).click();
			await page.locator("input[name='search-after']").fill(q.after || "");
			await page.locator("input[name='search-before']").fill(q.before || "");
			await page.locator("input[name='search-hasAttachment']").setChecked(!!q.hasAttachment);
			await page.locator("#search-adv button[type='submit']").click();
			await page.locator(".list-title", { hasText: "Search results" }).waitFor();
			out.push((await listSubjects(page)).sort());
			await page.getByRole("button", { name: "Clear search" }).click();
			await page.locator(".list-title", { hasText: "Search results" }).waitFor({ state: "detached" });
		}
		return { results: out };
	},

	/*
	 * The app's first state change (boot()'s /api/me answer) lands before
	 * Preact has run its effects, i.e. before the components subscribed to
	 * the store: made certain here by holding effects back 1.5 s (no
	 * animation frames, Preact's 35 ms fallback timer stretched), which a
	 * slow first paint does by chance. The login form must still appear.
	 */
	async lateEffects(page) {
		await page.addInitScript(() => {
			window.requestAnimationFrame = () => 0;
			const st = window.setTimeout;
			window.setTimeout = (f, ms, ...a) => st(f, ms === 35 ? 1500 : ms, ...a);
		});
		let meAt = 0;
		page.on("requestfinished", (r) => {
			if (r.url().endsWith("/api/me")) meAt = Date.now();
		});
		page.on("response", (r) => {
			if (r.url().endsWith("/api/me") && !meAt) meAt = Date.now();
		});
		const t0 = Date.now();
		await page.goto(cfg.base + "/", { waitUntil: "domcontentloaded" });
		await page.locator("#login-user").waitFor({ timeout: 8000 });
		return { meAfter: meAt - t0, formAfter: Date.now() - t0 };
	},

	/*
	 * Keyboard and multi-select: j moves the cursor, x selects, ! sends the
	 * selection to Junk. Then a folder is created and renamed in the sidebar.
	 */
	async keyboardFolders(page) {
		await signedIn(page, cfg.base, cfg.user, cfg.password);
		for (const s of cfg.subjects) await row(page, s).waitFor();
		await page.locator("body").click({ position: { x: 5, y: 5 } }).catch(() => {});
		await page.keyboard.press("j");
		await page.keyboard.press("x");
		await page.keyboard.press("j");
		await page.keyboard.press("x");
		await page.locator("li.row.selected").nth(1).waitFor();
		const picked = await page.locator("li.row.selected .subject").allInnerTexts();
		const nsel = await page.locator(".nsel").innerText();
		await page.keyboard.press("!");
		for (const s of picked) await row(page, s.trim()).waitFor({ state: "detached" });
		const inbox = await listSubjects(page);
		/* Folder create, then rename. */
		await page.getByRole("button", { name: "New folder" }).click();
		await page.locator("#folder-name").fill("Projects");
		await page.locator("form.folder-form button[type=submit]").click();
		await page.locator('nav .folder[data-name="Projects"]').waitFor();
		await folder(page, "Projects");
		await page.locator(".folder-tools").getByRole("button", { name: "Rename" }).click();
		await page.locator("#folder-name").fill("Projets");
		await page.locator("form.folder-form button[type=submit]").click();
		await page.locator('nav .folder[data-name="Projets"]').waitFor();
		const gone = await page.locator('nav .folder[data-name="Projects"]').count();
		/* A second folder, deleted after the confirmation (which only this step accepts). */
		await page.getByRole("button", { name: "New folder" }).click();
		await page.locator("#folder-name").fill("Scratch");
		await page.locator("form.folder-form button[type=submit]").click();
		await page.locator('nav .folder[data-name="Scratch"]').waitFor();
		await folder(page, "Scratch");
		let confirmText = null;
		page.removeAllListeners("dialog");
		page.once("dialog", (d) => {
			confirmText = d.message();
			void d.accept();
		});
		await page.locator(".folder-tools").getByRole("button", { name: "Delete folder" }).click();
		await page.locator('nav .folder[data-name="Scratch"]').waitFor({ state: "detached" });
		return { picked: picked.map((x) => x.trim()), nsel, inbox, oldNameLeft: gone, confirmText };
	},

	/* French, on a phone-sized screen (cfg.locale, cfg.viewport). */
	async phoneFrench(page) {
		await page.goto(cfg.base + "/", { waitUntil: "domcontentloaded" });
		await page.locator("#login-user").waitFor({ timeout: 15000 });
		const button = (await page.locator("main.login button[type=submit]").innerText()).trim();
		await page.locator("#login-user").fill(cfg.user);
		await page.locator("#login-pass").fill(cfg.password);
		await page.locator("main.login button[type=submit]").click();
		await page.locator("ul.messages").waitFor({ state: "attached", timeout: 15000 });
		await row(page, cfg.subject).waitFor();
		const width = await page.evaluate(() => [document.documentElement.scrollWidth, window.innerWidth]);
		const navBefore = await page.locator("nav.sidebar").evaluate((n) => n.getBoundingClientRect().right > 0 && getComputedStyle(n).visibility !== "hidden");
		await page.getByRole("button", { name: "Menu" }).click();
		await page.locator("nav.sidebar.open").waitFor();
		const inboxLabel = (await page.locator('nav .folder[data-role="inbox"] .name').innerText()).trim();
		/* Choosing a folder closes the drawer again. */
		await page.locator('nav .folder[data-role="inbox"]').click();
		await page.locator("nav.sidebar.open").waitFor({ state: "detached" });
		await openMessage(page, cfg.subject);
		const msgWidth = await page.evaluate(() => document.documentElement.scrollWidth);
		return { button, width, navBefore, inboxLabel, msgWidth, lang: await page.evaluate(() => document.documentElement.lang) };
	},

	async live(page) {
		await signedIn(page, cfg.base, cfg.user, cfg.password);
		/* Give the event source a moment to open, then let the test deliver. */
		await page.waitForFunction(() => performance.getEntriesByType("resource").some((e) => e.name.includes("/jmap/eventsource")), null, { timeout: 10000 }).catch(() => {});
		await page.waitForTimeout(300);
		process.stdout.write(JSON.stringify({ ready: true }) + "\n");
		await readLine();
		await row(page, cfg.subject).waitFor({ timeout: 10000 });
		return { seenAt: Date.now() / 1000, reloads: await page.evaluate(() => performance.getEntriesByType("navigation").length) };
	},
};

const browser = await launch();
let out;
try {
	const { page, watch } = await openPage(browser, cfg.base, { allow: cfg.allow, locale: cfg.locale, viewport: cfg.viewport });
	if (!scenarios[name]) throw new Error("unknown scenario " + name);
	out = { ok: true, ...(await scenarios[name](page, watch)), dialogs: watch.dialogs, pageErrors: watch.pageErrors, foreign: watch.foreign };
	if (cfg.screenshot) await page.screenshot({ path: cfg.screenshot, fullPage: true });
} catch (e) {
	out = { ok: false, error: String(e && e.stack ? e.stack : e) };
} finally {
	await browser.close();
}
report(out);
