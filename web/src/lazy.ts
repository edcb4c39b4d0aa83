// SPDX-License-Identifier: MIT
// Components loaded on first use (esbuild splits each dynamic import()
// into a chunk of its own): what the inbox's first paint does not need -
// the composer, the settings, the HTML mail frame with DOMPurify - stays
// out of the first script. preloadLazy() fetches them all once the inbox
// is on screen and the browser is idle, so that opening one later does not
// wait for the network.
import { h, type ComponentType } from "preact";
import { useState } from "preact/hooks";

export type Lazy<P> = ComponentType<P> & { load: () => Promise<void> };

const all: (() => Promise<void>)[] = [];

export function lazy<P extends object>(importer: () => Promise<ComponentType<P>>): Lazy<P> {
	let loaded: ComponentType<P> | null = null;
	let pending: Promise<void> | null = null;
	const load = (): Promise<void> => {
		if (!pending)
			pending = importer().then(
				(c) => {
					loaded = c;
				},
				(e) => {
					pending = null; /* a network error: try again next time */
					throw e;
				},
			);
		return pending;
	};
	function LazyComponent(props: P) {
		const [, loadedNow] = useState(0);
		if (loaded) return h(loaded, props);
		load().then(
			() => loadedNow(1),
			(e) => console.warn("chunk", e),
		);
		return null;
	}
	const c = LazyComponent as Lazy<P>;
	c.load = load;
	all.push(load);
	return c;
}

let preloaded = false;

export function preloadLazy(): void {
	if (preloaded) return;
	preloaded = true;
	const run = () => all.forEach((load) => void load().catch(() => {}));
	if (typeof requestIdleCallback === "function") requestIdleCallback(run, { timeout: 1000 });
	else setTimeout(run, 200);
}
