// SPDX-License-Identifier: MIT
// The web session API of facteur (docs/ARCHITECTURE.md, "Webmail"): sign in
// and out, who am I, password change. The session lives in an HttpOnly
// cookie; every state-changing request carries the CSRF token the server
// handed out at sign-in.

export interface Me {
	username: string;
	accountId: string;
	csrfToken: string;
	inboxId?: string; /* the JMAP id of INBOX, for the first request */
	session?: unknown; /* the JMAP session resource */
	first?: [string, Record<string, unknown>, string][]; /* the answer to mail.ts's firstLoad request */
}

export class HttpError extends Error {
	constructor(
		public status: number,
		public code: string,
	) {
		super(`HTTP ${status}${code ? " " + code : ""}`);
	}
}

let csrf = "";

export function csrfToken(): string {
	return csrf;
}

async function errorOf(res: Response): Promise<HttpError> {
	let code = "";
	try {
		const j = await res.json();
		code = typeof j.error === "string" ? j.error : typeof j.type === "string" ? j.type : "";
	} catch {
		/* not JSON */
	}
	return new HttpError(res.status, code);
}

/* POST with the CSRF token; JSON in, JSON (or nothing) out. */
export async function post(url: string, body: unknown, headers: Record<string, string> = {}): Promise<Response> {
	const res = await fetch(url, {
		method: "POST",
		credentials: "same-origin",
		headers: { "Content-Type": "application/json", "X-CSRF-Token": csrf, ...headers },
		body: JSON.stringify(body),
	});
	if (!res.ok) throw await errorOf(res);
	return res;
}

export async function me(): Promise<Me | null> {
	const res = await fetch("/api/me", { credentials: "same-origin" });
	if (res.status === 401) return null;
	if (!res.ok) throw await errorOf(res);
	const m = (await res.json()) as Me;
	csrf = m.csrfToken;
	return m;
}

export async function login(username: string, password: string): Promise<Me> {
	const res = await fetch("/api/login", {
		method: "POST",
		credentials: "same-origin",
		headers: { "Content-Type": "application/json" },
		body: JSON.stringify({ username, password }),
	});
	if (!res.ok) throw await errorOf(res);
	const m = (await res.json()) as Me;
	csrf = m.csrfToken;
	return m;
}

export async function logout(): Promise<void> {
	try {
		await post("/api/logout", {});
	} finally {
		csrf = "";
	}
}

export async function changePassword(oldPassword: string, newPassword: string): Promise<void> {
	await post("/api/password", { old: oldPassword, new: newPassword });
}
