// SPDX-License-Identifier: MIT
// Builds the webmail into dist/: the first JavaScript module, the chunks
// it loads on demand (lazy.ts: composer, settings, HTML mail with
// DOMPurify) and one CSS bundle, with content-hashed names under
// dist/assets/ (served immutable), and an index.html that holds the style
// sheet and references the scripts (no inline script, so the strict CSP
// `script-src 'self'` holds). Runs offline once `npm ci` is done.
// `node build.mjs --watch` rebuilds on change for front-end work.
import * as esbuild from "esbuild";
import { createHash } from "node:crypto";
import { mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { gzipSync } from "node:zlib";
import { basename, dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const root = dirname(fileURLToPath(import.meta.url));
const dist = join(root, "dist");
const LIMIT_GZIP = 150 * 1024; // issue 7: bundle < 150 KB gzipped

const options = {
	absWorkingDir: root,
	entryPoints: { app: "src/main.tsx" },
	bundle: true,
	minify: true,
	format: "esm",
	splitting: true,
	chunkNames: "chunk-[hash]",
	target: ["es2020", "chrome100", "firefox100", "safari15"],
	jsx: "automatic",
	jsxImportSource: "preact",
	outdir: join(dist, "assets"),
	entryNames: "[name]-[hash]",
	assetNames: "[name]-[hash]",
	loader: { ".svg": "file" },
	legalComments: "none",
	metafile: true,
	logLevel: "warning",
	define: { "process.env.NODE_ENV": '"production"' },
};

/* The chunks the entry imports statically, transitively (modulepreload them: no waterfall). */
function staticChunks(meta, out, seen = new Set()) {
	for (const i of meta.outputs[out]?.imports || []) {
		if (i.kind !== "import-statement" || seen.has(i.path)) continue;
		seen.add(i.path);
		staticChunks(meta, i.path, seen);
	}
	return [...seen].map((p) => basename(p));
}

function html(js, css, chunks) {
	/* The style sheet is inlined (the CSP allows inline style, not script): one request less before the paint. */
	const style = readFileSync(join(dist, "assets", css), "utf8").replace(/<\/style/gi, "<\\/style");
	return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="color-scheme" content="light dark">
<title>facteur</title>
<link rel="icon" href="data:,">
<link rel="preload" href="/api/me" as="fetch" crossorigin>
<style>${style}</style>
${chunks.map((c) => `<link rel="modulepreload" href="/assets/${c}">\n`).join("")}<script type="module" src="/assets/${js}"></script>
</head>
<body>
<noscript>facteur's webmail needs JavaScript.</noscript>
<div id="app"></div>
</body>
</html>
`;
}

function finish(result) {
	const outs = Object.keys(result.metafile.outputs).map((p) => basename(p));
	const js = outs.find((n) => n.startsWith("app-") && n.endsWith(".js"));
	const css = outs.find((n) => n.startsWith("app-") && n.endsWith(".css"));
	if (!js || !css) throw new Error("build: missing app bundle in " + outs.join(", "));
	const entry = Object.keys(result.metafile.outputs).find((p) => basename(p) === js);
	writeFileSync(join(dist, "index.html"), html(js, css, staticChunks(result.metafile, entry)));
	rmSync(join(dist, "assets", css));
	let total = 0;
	for (const n of [...outs.filter((n) => n !== css), "../index.html"]) {
		const data = readFileSync(join(dist, "assets", n));
		const gz = gzipSync(data, { level: 9 }).length;
		total += gz;
		console.log(`  assets/${n}  ${data.length} B, ${gz} B gzipped`);
	}
	console.log(`  total ${total} B gzipped (limit ${LIMIT_GZIP})`);
	if (total > LIMIT_GZIP) throw new Error(`build: bundle is ${total} B gzipped, over ${LIMIT_GZIP}`);
	return createHash("sha256").update(js + css).digest("hex").slice(0, 12);
}

rmSync(dist, { recursive: true, force: true });
mkdirSync(join(dist, "assets"), { recursive: true });
if (process.argv.includes("--watch")) {
	const ctx = await esbuild.context({
		...options,
		plugins: [{ name: "index", setup: (b) => b.onEnd((r) => r.errors.length || finish(r)) }],
	});
	await ctx.watch();
	console.log("watching src/ ...");
} else {
	finish(await esbuild.build(options));
}
