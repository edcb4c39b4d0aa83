// SPDX-License-Identifier: MIT
// The sign-in form.
import { useState } from "preact/hooks";
import { HttpError } from "../api";
import { t } from "../i18n";
import { signIn } from "../mail";
import { LangSwitch } from "./LangSwitch";

export function Login() {
	const [user, setUser] = useState("");
	const [pass, setPass] = useState("");
	const [error, setError] = useState("");
	const [busy, setBusy] = useState(false);

	async function submit(ev: Event) {
		ev.preventDefault();
		setBusy(true);
		setError("");
		try {
			await signIn(user.trim(), pass);
		} catch (e) {
			if (e instanceof HttpError && e.status === 401) setError(t("badLogin"));
			else if (e instanceof HttpError && e.status === 429) setError(t("throttled"));
			else if (e instanceof TypeError) setError(t("networkError"));
			else setError(t("error", { msg: e instanceof Error ? e.message : String(e) }));
			setBusy(false);
		}
	}

	return (
		<main class="login">
			<form onSubmit={submit} aria-labelledby="login-title">
				<h1 id="login-title">
					<span class="logo" aria-hidden="true">✉</span> {t("appName")}
				</h1>
				<label for="login-user">{t("address")}</label>
				<input id="login-user" name="username" type="email" autocomplete="username" required autofocus
					value={user} onInput={(e) => setUser((e.target as HTMLInputElement).value)} />
				<label for="login-pass">{t("password")}</label>
				<input id="login-pass" name="password" type="password" autocomplete="current-password" required
					value={pass} onInput={(e) => setPass((e.target as HTMLInputElement).value)} />
				{error && <p class="error" role="alert" id="login-error">{error}</p>}
				<button type="submit" class="primary" disabled={busy}>{busy ? t("loading") : t("signIn")}</button>
				<LangSwitch />
			</form>
		</main>
	);
}
