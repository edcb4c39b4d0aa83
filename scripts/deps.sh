#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Install the Debian packages facteur needs. Usage: scripts/deps.sh [build|test|bench]
# Only missing packages are installed, so a second run costs nothing.
set -euo pipefail
what=${1:-build}
pkgs=(gcc make pkg-config libssl-dev libsqlite3-dev libsodium-dev libgmime-3.0-dev zlib1g-dev openssl
      libunbound-dev libopendkim-dev publicsuffix # DKIM; DMARC organizational domains
      libjansson-dev # JSON for JMAP
      brotli python3) # scripts/embed-web: brotli variants of the web application
if [ "$what" = test ] || [ "$what" = bench ]; then
	pkgs+=(libcmocka-dev clang clang-format clang-tidy libfuzzer-14-dev libclang-rt-14-dev python3 python3-pytest
	       swaks fetchmail curl ca-certificates isync offlineimap3 mutt
	       unbound # unbound: the DNS server the outbound queue tests start
	       chromium) # the webmail's browser tests (tests/e2e/web, driven by npm playwright-core)
fi
# The web application (web/) is built with npm and embedded into the binary.
# NodeSource's nodejs already contains npm; Debian's needs its npm package.
command -v npm >/dev/null 2>&1 || pkgs+=(nodejs npm)
missing=()
for p in "${pkgs[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ "$what" = bench ]; then
	# Postfix is the peer and smtp-source the load generator; keep Debian's
	# postfix service itself stopped and unconfigured (the bench runs its own).
	dpkg-query -W -f='${Status}' postfix 2>/dev/null | grep -q "install ok installed" || missing+=(postfix)
	# Dovecot is the IMAP peer (bench/imap-bench runs a private instance);
	# its system service is stopped and disabled right after installation.
	dpkg-query -W -f='${Status}' dovecot-imapd 2>/dev/null | grep -q "install ok installed" || missing+=(dovecot-imapd)
fi
if [ ${#missing[@]} -gt 0 ]; then
	echo "deps: installing ${missing[*]}"
	SUDO=""
	[ "$(id -u)" -ne 0 ] && SUDO=sudo
	export DEBIAN_FRONTEND=noninteractive
	if printf '%s\n' "${missing[@]}" | grep -qx postfix; then
		echo "postfix postfix/main_mailer_type select No configuration" | $SUDO debconf-set-selections
	fi
	# Packages such as unbound, postfix and dovecot would start their system
	# services on installation; facteur's tests and benches run private
	# instances instead, so forbid service starts while installing.
	policy=/usr/sbin/policy-rc.d
	added_policy=no
	if [ ! -e "$policy" ]; then
		printf '#!/bin/sh\nexit 101\n' | $SUDO tee "$policy" >/dev/null
		$SUDO chmod 755 "$policy"
		added_policy=yes
		trap '$SUDO rm -f "$policy"' EXIT
	fi
	$SUDO apt-get update -qq
	$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
	if printf '%s\n' "${missing[@]}" | grep -qx dovecot-imapd; then
		{ $SUDO systemctl disable --now dovecot.service dovecot.socket ||
		  $SUDO service dovecot stop; } >/dev/null 2>&1 || true
	fi
fi
# The web application: npm ci from the committed lockfile, then the build
# into web/dist that `make` embeds (scripts/embed-web). The browser tests'
# own packages (playwright-core, which drives Debian's chromium) for test.
root=$(cd "$(dirname "$0")/.." && pwd)
(cd "$root/web" && npm ci --no-audit --no-fund --loglevel=error && npm run --silent build)
if [ "$what" = test ] || [ "$what" = bench ]; then
	(cd "$root/tests/e2e/web" && npm ci --no-audit --no-fund --loglevel=error)
fi
