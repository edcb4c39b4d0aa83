// SPDX-License-Identifier: MIT
// Opens every message of the hostile corpus (already delivered to the
// user's inbox by test_webmail.py) in the webmail, one after the other,
// and records what must never happen: a dialog, a canary set by a
// payload, a page error, a CSP violation, a request to any host but
// facteur's, a same-origin request that a payload aimed at (logout,
// event source from an <img>), or losing the session.
//   node hostile-run.mjs '{"base":"https://127.0.0.1:PORT","user":"...","password":"...","count":N}'
import { canaries, launch, openPage, report, signedIn } from "./lib.mjs";

const cfg = JSON.parse(process.argv[2]);
const browser = await launch();
const result = { opened: 0, rendered: 0, subjects: [], canaries: [], foreign: [], dialogs: [], pageErrors: [], csp: [], sameOrigin: [], signedInAfter: false, errorsBy: [], cspParse: 0 };
try {
	const { page, watch, origin } = await openPage(browser, cfg.base);
	await signedIn(page, cfg.base, cfg.user, cfg.password);
	/* Record our own requests after sign-in: only the API, assets and downloads are expected. */
	page.on("request", (r) => {
		const u = r.url();
		if (!u.startsWith(origin)) return;
		const p = new URL(u).pathname;
		if (!/^\/(jmap\/api|jmap\/eventsource|jmap\/download\/|\.well-known\/jmap|api\/me|assets\/)/.test(p)) result.sameOrigin.push(r.method() + " " + p);
	});
	const rows = page.locator("ul.messages li.row");
	let seenErrors = watch.consoleErrors.length;
	/* Open each row once, by id: a live refresh may reorder rows between two openings. */
	const done = new Set();
	for (let i = 0; i < cfg.count; i++) {
		let id = null;
		for (let tries = 0; tries < 60 && id === null; tries++) {
			const ids = await rows.evaluateAll((els) => els.map((e) => e.dataset.id));
			id = ids.find((x) => !done.has(x)) ?? null;
			if (id !== null) break;
			const more = page.getByRole("button", { name: "Load more" });
			if (await more.isVisible().catch(() => false)) await more.click().catch(() => {});
			else await page.locator(".sentinel").scrollIntoViewIfNeeded().catch(() => {});
			await page.waitForTimeout(100);
		}
		if (id === null) break;
		done.add(id);
		const r = page.locator(`ul.messages li.row[data-id="${id}"]`);
		result.subjects.push(await r.locator(".subject").innerText());
		await r.locator(".row-main").click();
		/* The body: a sandboxed frame (wait until it has loaded) or escaped plain text. */
		const body = page.locator(`article.msg[data-id="${id}"] :is(.mail-frame, .plain)`).first();
		if (await body.waitFor({ timeout: 15000 }).then(() => true, () => false)) {
			result.rendered++;
			await page.waitForFunction(() => [...document.querySelectorAll("iframe.mail-frame")].every((f) => {
				try {
					return f.contentDocument && f.contentDocument.readyState === "complete";
				} catch {
					return true;
				}
			}), null, { timeout: 10000 }).catch(() => {});
			await page.waitForTimeout(30);
		}
		result.opened++;
		while (seenErrors < watch.consoleErrors.length) {
			result.errorsBy.push(`${result.subjects[i]}: [${watch.consoleWhere[seenErrors]}] ${watch.consoleErrors[seenErrors].slice(0, 90)}`);
			seenErrors++;
		}
		for (const c of await canaries(page)) result.canaries.push(result.subjects[i] + ": " + c);
	}
	await page.waitForTimeout(500);
	for (const c of await canaries(page)) result.canaries.push("end: " + c);
	result.signedInAfter = await page.evaluate(async () => (await fetch("/api/me")).status === 200);
	result.foreign = watch.foreign;
	result.dialogs = watch.dialogs;
	result.pageErrors = watch.pageErrors;
	/* CSP reports raised while DOMPurify parses a payload into its inert document come from the
	   app's own bundle: Chromium checks inline handlers and <base> at parse time, nothing runs. Any
	   other report (from the mail frame, about:srcdoc) means active content reached the frame. */
	watch.consoleErrors.forEach((m, i) => {
		if (!/Content Security Policy|Refused to/i.test(m)) return;
		const where = watch.consoleWhere[i];
		if (/\/assets\/(app|chunk)-[A-Za-z0-9_-]+\.js$/.test(where)) result.cspParse++;
		else result.csp.push(`[${where}] ${m}`);
	});
	result.sandbox = watch.consoleErrors.filter((m) => /sandbox/i.test(m));
	result.ok = true;
} catch (e) {
	result.ok = false;
	result.error = String(e && e.stack ? e.stack : e);
} finally {
	await browser.close();
}
report(result);
