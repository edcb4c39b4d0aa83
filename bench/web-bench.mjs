// SPDX-License-Identifier: MIT
// The browser half of bench/web-bench: Debian's headless Chromium (through
// tests/e2e/web/lib.mjs and its playwright-core) measures facteur's webmail
// and Roundcube on the servers the Python half started. Reads the targets
// as JSON on stdin, prints one JSON line: per target, the milliseconds of
// each run of each measure.
//
// Every figure is taken inside the page with performance.now(): a
// MutationObserver (and the load events of frames) watches for the moment
// the expected content is in the document, then the time is read after the
// next frame (requestAnimationFrame, then a message: the frame has been
// produced). Navigation runs count from the navigation's start (the
// document's time origin); actions count from the mouse press or the key
// press that starts them. Nothing is intercepted (no request routing), so
// the browser talks to the servers directly.
import { launch, signIn } from "../tests/e2e/web/lib.mjs";

const APPS = {
	facteur: {
		inbox: "/",
		rows: "ul.messages li.row",
		row: (i) => `ul.messages li.row:nth-child(${i + 1}) .row-main`,
		searchBox: "#search-input",
		login: signIn, /* with its reloads on the known HTTP stall */
	},
	roundcube: {
		inbox: "/?_task=mail&_mbox=INBOX",
		rows: "#messagelist tbody tr.message",
		row: (i) => `#messagelist tbody tr.message:nth-child(${i + 1}) td.subject`,
		searchBox: "#mailsearchform",
		async login(page, base, user, password) {
			await page.goto(base + "/?_task=login");
			await page.locator("#rcmloginuser").fill(user);
			await page.locator("#rcmloginpwd").fill(password);
			await page.locator("#rcmloginsubmit").click();
		},
	},
};

/* Installed in every document of a context: records window.__benchPaint,
 * the time from navigation start to the frame after the inbox has rows. */
function paintWatcher(rowsSel) {
	if (window.top !== window) return;
	const done = (t) => {
		window.__benchPaint = t;
	};
	const check = () => {
		if (window.__benchSeen || !document.querySelector(rowsSel)) return;
		window.__benchSeen = true;
		requestAnimationFrame(() => {
			const ch = new MessageChannel();
			ch.port1.onmessage = () => done(performance.now());
			ch.port2.postMessage(0);
		});
	};
	new MutationObserver(check).observe(document, { childList: true, subtree: true });
}

/* In the page: arm a watcher for an action; resolves with its duration in
 * ms, from the first `start` event (capture phase) to the frame after
 * `what` holds. */
function armAction({ app, what, term, count, start }) {
	const rowSel = app === "facteur" ? "ul.messages li.row" : "#messagelist tbody tr.message";
	const frameReady = (f) => {
		try {
			const d = f && f.contentDocument;
			return !!(d && d.readyState === "complete" && d.body && d.body.childElementCount > 0);
		} catch {
			return false;
		}
	};
	const conds = {
		open: () => {
			if (app === "facteur") {
				const a = document.querySelector("article.msg[data-id]");
				if (!a) return false;
				if (a.querySelector(".plain")) return true;
				return frameReady(a.querySelector("iframe.mail-frame"));
			}
			const f = document.getElementById("messagecontframe");
			return frameReady(f) && !!f.contentDocument.getElementById("messagebody");
		},
		search: () => {
			if (app === "facteur" && document.querySelector("ul.messages[aria-busy=true]")) return false;
			const rows = document.querySelectorAll(rowSel);
			if (rows.length !== count) return false;
			for (const r of rows) if (!r.textContent.toLowerCase().includes(term)) return false;
			return true;
		},
	};
	const cond = conds[what];
	return new Promise((resolve) => {
		let t0 = null;
		let seen = false;
		const check = () => {
			if (t0 === null || seen || !cond()) return;
			seen = true;
			mo.disconnect();
			clearInterval(iv);
			document.removeEventListener("load", check, true);
			requestAnimationFrame(() => {
				const ch = new MessageChannel();
				ch.port1.onmessage = () => resolve(performance.now() - t0);
				ch.port2.postMessage(0);
			});
		};
		document.addEventListener(start, () => {
			if (t0 === null) t0 = performance.now();
		}, { capture: true, once: true });
		const mo = new MutationObserver(check);
		mo.observe(document, { childList: true, subtree: true, attributes: true });
		document.addEventListener("load", check, true); /* frames' load events */
		const iv = setInterval(check, 10); /* a frame's content changes no mutation here reports */
		window.__benchArmed = true;
	});
}

async function readStdin() {
	let s = "";
	for await (const chunk of process.stdin) s += chunk;
	return JSON.parse(s);
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function newContext(browser, storageState) {
	return browser.newContext({
		viewport: { width: 1280, height: 860 },
		locale: "en-US",
		...(storageState ? { storageState } : {}),
	});
}

/* Load the inbox in page; the paint time of that navigation. A load that
 * shows nothing in 10 s (facteur's known HTTP stall, see tests/e2e/web/lib.mjs)
 * is counted in stalls[t.name] and done again. */
const stalls = {};
async function loadInbox(page, t) {
	for (let attempt = 0; ; attempt++) {
		await page.goto(t.base + APPS[t.app].inbox, { waitUntil: "commit" });
		try {
			await page.waitForFunction(() => window.__benchPaint !== undefined, null, { timeout: 10000 });
			return await page.evaluate(() => window.__benchPaint);
		} catch (e) {
			if (attempt >= 3) throw e;
			stalls[t.name] = (stalls[t.name] || 0) + 1;
		}
	}
}

async function main() {
	const cfg = await readStdin();
	const browser = await launch();
	const out = {};
	const st = {};
	try {
		for (const t of cfg.targets) {
			const a = APPS[t.app];
			out[t.name] = { cold: [], warm: [], open: [], search: [] };
			/* Sign in once; the cold contexts start from its cookies only. */
			const lc = await newContext(browser);
			const lp = await lc.newPage();
			await a.login(lp, t.base, cfg.user, t.password);
			try {
				await lp.locator(a.rows).first().waitFor({ timeout: 20000 });
			} catch {
				stalls[t.name] = (stalls[t.name] || 0) + 1; /* signed in but nothing shown: reload once */
				await lp.reload();
				await lp.locator(a.rows).first().waitFor({ timeout: 60000 });
			}
			const storage = await lc.storageState();
			await lc.close();
			const wc = await newContext(browser, storage);
			await wc.addInitScript(paintWatcher, a.rows);
			const wp = await wc.newPage();
			st[t.name] = { a, storage, wc, wp };
			/* Untimed: fill the warm context's cache and the servers' own caches. */
			for (let i = 0; i < 2; i++) await loadInbox(wp, t);
			/* One untimed cold load that counts what crosses the network. */
			const cc = await newContext(browser, storage);
			await cc.addInitScript(paintWatcher, a.rows);
			const cp = await cc.newPage();
			const sizes = [];
			cp.on("requestfinished", (r) => sizes.push(r.sizes().then((s) => s.responseBodySize + s.responseHeadersSize, () => 0)));
			await loadInbox(cp, t);
			await sleep(1000);
			out[t.name].transfer = (await Promise.all(sizes)).reduce((x, y) => x + y, 0);
			out[t.name].requests = sizes.length;
			await cc.close();
		}
		for (let i = 0; i < cfg.runs; i++) {
			for (const t of cfg.targets) {
				const { a, storage } = st[t.name];
				const cc = await newContext(browser, storage);
				await cc.addInitScript(paintWatcher, a.rows);
				const cp = await cc.newPage();
				out[t.name].cold.push(await loadInbox(cp, t));
				await cc.close();
			}
			for (const t of cfg.targets) out[t.name].warm.push(await loadInbox(st[t.name].wp, t));
			for (const t of cfg.targets) {
				const { a, wp } = st[t.name];
				await loadInbox(wp, t);
				await sleep(700); /* past Roundcube's 400 ms "repeated selection" delay; background requests done */
				const p = wp.evaluate(armAction, { app: t.app, what: "open", start: "mousedown" });
				await wp.waitForFunction(() => window.__benchArmed);
				await wp.locator(a.row(i)).click();
				out[t.name].open.push(await p);
			}
			for (const t of cfg.targets) {
				const { a, wp } = st[t.name];
				const [term, count] = t.searches[i];
				await loadInbox(wp, t);
				await sleep(700);
				await wp.locator(a.searchBox).fill(term);
				const p = wp.evaluate(armAction, { app: t.app, what: "search", term, count, start: "keydown" });
				await wp.waitForFunction(() => window.__benchArmed);
				await wp.locator(a.searchBox).press("Enter");
				out[t.name].search.push(await p);
			}
		}
	} finally {
		await browser.close();
	}
	for (const t of cfg.targets) out[t.name].stalls = stalls[t.name] || 0;
	process.stdout.write(JSON.stringify(out) + "\n");
}

main().catch((e) => {
	console.error(e);
	process.exit(1);
});
