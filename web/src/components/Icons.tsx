// SPDX-License-Identifier: MIT
// Small inline SVG icons (decorative: aria-hidden, the text is next to them).
const paths: Record<string, string> = {
	inbox: "M3 13h5l1.5 3h5L16 13h5M5 5h14l2 8v6H3v-6z",
	drafts: "M4 20h4L19 9l-4-4L4 16zM14 6l4 4",
	sent: "M3 11l18-8-8 18-2-8z",
	trash: "M4 7h16M9 7V4h6v3M6 7l1 13h10l1-13",
	junk: "M12 3l9 16H3zM12 10v4M12 17v.5",
	archive: "M3 5h18v4H3zM5 9v10h14V9M10 13h4",
	folder: "M3 6h6l2 2h10v11H3z",
	flag: "M5 21V4h11l-2 4 2 4H5",
	clip: "M16 8l-7 7a2 2 0 01-3-3l8-8a4 4 0 016 6l-8 8a6 6 0 01-8-8l7-7",
	menu: "M4 6h16M4 12h16M4 18h16",
	back: "M15 5l-7 7 7 7",
	search: "M10 17a7 7 0 110-14 7 7 0 010 14zM15 15l6 6",
	pen: "M4 20h4L19 9l-4-4L4 16z",
	gear: "M12 15a3 3 0 100-6 3 3 0 000 6zM12 2v3M12 19v3M2 12h3M19 12h3M5 5l2 2M17 17l2 2M5 19l2-2M17 7l2-2",
	close: "M6 6l12 12M18 6L6 18",
	reply: "M10 8V4l-7 7 7 7v-4c5 0 8 1 11 5-1-6-4-11-11-11z",
	forward: "M14 8V4l7 7-7 7v-4c-5 0-8 1-11 5 1-6 4-11 11-11z",
	plus: "M12 5v14M5 12h14",
};

export function Icon({ name }: { name: string }) {
	return (
		<svg class="icon" viewBox="0 0 24 24" aria-hidden="true" focusable="false">
			<path d={paths[name] || paths.folder} />
		</svg>
	);
}
