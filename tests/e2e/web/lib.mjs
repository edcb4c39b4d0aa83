// SPDX-License-Identifier: MIT
// Shared plumbing of the webmail's browser tests: Debian's Chromium driven
// by playwright-core through executablePath (never a downloaded browser),
// a page that records every request leaving the facteur origin, every
// dialog and every console error, and sign-in helpers.
import { chromium } from "playwright-core";

export const CHROMIUM = process.env.CHROMIUM || "/usr/bin/chromium";

export async function launch() {
	return chromium.launch({
		executablePath: CHROMIUM,
		headless: true,
		/* root in CI: Chromium's own sandbox needs user namespaces it may not get */
		args: ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run", "--disable-background-networking",
			"--disable-component-update", "--disable-sync", "--disable-default-apps", "--disable-features=Translate,OptimizationHints,MediaRouter"],
	});
}

/*
 * A fresh context and page on base; watch records what must never happen.
 * opts.allow: origins (besides base's) that may be reached, e.g. a test's
 * own image server; their requests are counted in watch.allowed.
 */
export async function openPage(browser, base, opts = {}) {
	const context = await browser.newContext({
		ignoreHTTPSErrors: true,
		viewport: opts.viewport || { width: 1280, height: 860 },
		locale: opts.locale || "en-US",
		acceptDownloads: true,
	});
	const origin = new URL(base).origin;
	const allow = opts.allow || [];
	const allowed = (u) => allow.some((o) => u.startsWith(o + "/"));
	const watch = { foreign: [], dialogs: [], consoleErrors: [], consoleWhere: [], pageErrors: [], requests: 0, allowed: 0 };
	/* Anything not for our origin is recorded and never reaches the network. */
	await context.route("**/*", (route) => {
		const u = route.request().url();
		if (u.startsWith(origin + "/")) return route.continue();
		if (allowed(u)) {
			watch.allowed++;
			return route.continue();
		}
		watch.foreign.push(u);
		return route.abort("blockedbyclient");
	});
	const page = await context.newPage();
	page.on("request", (r) => {
		watch.requests++;
		const u = r.url();
		if (!u.startsWith(origin + "/") && !allowed(u) && !u.startsWith("data:") && !u.startsWith("blob:") && !u.startsWith("about:") && !watch.foreign.includes(u))
			watch.foreign.push(u);
	});
	page.on("dialog", (d) => {
		watch.dialogs.push(d.type() + ": " + d.message());
		void d.dismiss().catch(() => {});
	});
	page.on("console", (m) => {
		if (m.type() === "error") {
			watch.consoleErrors.push(m.text());
			watch.consoleWhere.push(m.location().url || "");
		}
	});
	page.on("pageerror", (e) => watch.pageErrors.push(String(e)));
	page.on("popup", (p) => watch.dialogs.push("popup: " + p.url()));
	return { context, page, watch, origin };
}

export async function signIn(page, base, user, password) {
	await page.goto(base + "/", { waitUntil: "domcontentloaded" });
	await page.locator("#login-user").waitFor({ timeout: 15000 });
	await page.locator("#login-user").fill(user);
	await page.locator("#login-pass").fill(password);
	await page.locator("main.login button[type=submit]").click();
}

export async function signedIn(page, base, user, password) {
	await signIn(page, base, user, password);
	await page.locator("#current-user").waitFor({ state: "attached", timeout: 15000 });
	await page.locator("ul.messages").waitFor({ state: "attached" });
}

/* The list row whose subject is exactly subject. */
export function row(page, subject) {
	const exact = new RegExp("^\\s*" + subject.replace(/[.*+?^${}()|[\]\\]/g, "\\$&") + "\\s*$");
	return page.locator("li.row", { has: page.locator(".subject", { hasText: exact }) });
}

export async function openMessage(page, subject) {
	await row(page, subject).first().locator(".row-main").click();
	await page.locator("article.msg").first().waitFor();
}

/* Every frame's canary: set by a payload that managed to run. */
export async function canaries(page) {
	const out = [];
	for (const f of page.frames()) {
		try {
			const v = await f.evaluate(() => [window.__pwned, document.title && document.title.includes("PWNED") ? "title" : null]);
			if (v[0] || v[1]) out.push(f.url() + ": " + JSON.stringify(v));
		} catch {
			/* a detached frame */
		}
	}
	return out;
}

/* Print the scenario's result as one JSON line (read by test_webmail.py). */
export function report(obj) {
	process.stdout.write(JSON.stringify(obj) + "\n");
}

export function readLine() {
	return new Promise((resolve) => {
		let buf = "";
		const on = (d) => {
			buf += d;
			const i = buf.indexOf("\n");
			if (i >= 0) {
				process.stdin.off("data", on);
				process.stdin.pause();
				resolve(buf.slice(0, i));
			}
		};
		process.stdin.setEncoding("utf8");
		process.stdin.resume();
		process.stdin.on("data", on);
	});
}
