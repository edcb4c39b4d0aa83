#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Install the Debian packages facteur needs. Usage: scripts/deps.sh [build|test|bench]
# Only missing packages are installed, so a second run costs nothing.
set -euo pipefail
what=${1:-build}
pkgs=(gcc make pkg-config libssl-dev libsqlite3-dev libsodium-dev libgmime-3.0-dev zlib1g-dev openssl
      libunbound-dev libopendkim-dev publicsuffix # DKIM; DMARC organizational domains
      libjansson-dev # JSON for JMAP
      libidn-dev # stringprep: SASLprep (RFC 4013) of SCRAM passwords and user names
      libcurl4-openssl-dev # the rspamd client (filter/)
      brotli python3) # scripts/embed-web: brotli variants of the web application
if [ "$what" = test ] || [ "$what" = bench ]; then
	pkgs+=(libcmocka-dev clang clang-format clang-tidy libfuzzer-14-dev libclang-rt-14-dev python3 python3-pytest
	       swaks libnet-ssleay-perl # swaks only recommends Net::SSLeay, without which it has no TLS
	       fetchmail curl ca-certificates isync offlineimap3 mutt bsdutils
	       unbound # unbound: the DNS server the outbound queue tests start
	       fail2ban # fail2ban-regex checks contrib/fail2ban/filter.d/facteur.conf
	       gsasl # GNU SASL's client: SCRAM-SHA-256(-PLUS) over IMAP, SMTP and (relayed) POP3
	       srs libmail-srs-perl # Mail::SRS and its srs tool check our SRS addresses both ways
	       rspamd redis-server clamav-daemon # spam and virus filtering (tests/e2e/test_rspamd.py runs private ones)
	       sieve-connect # ManageSieve client (tests/e2e/test_managesieve.py); its Perl deps give STARTTLS and SASL
	       chromium) # the webmail's browser tests (tests/e2e/web, driven by npm playwright-core)
fi
# The web application (web/) is built with npm and embedded into the binary;
# the JMAP and browser tests run npm clients. NodeSource's nodejs already
# contains npm; Debian's needs its npm package.
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
	# strace counts the fsyncs per message (bench/smtp-bench --fsyncs).
	dpkg-query -W -f='${Status}' strace 2>/dev/null | grep -q "install ok installed" || missing+=(strace)
	# Roundcube 1.6 is the webmail peer (bench/web-bench): Debian's package
	# with SQLite, PHP's CLI for `php -S` and the CGI flavour, listed so that
	# the php metapackage is satisfied without Apache's module (php8.2
	# depends on libapache2-mod-php8.2 | php8.2-fpm | php8.2-cgi).
	for p in php8.2-cgi php-cli roundcube roundcube-sqlite3; do
		dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
	done
fi
if [ ${#missing[@]} -gt 0 ]; then
	echo "deps: installing ${missing[*]}"
	SUDO=""
	[ "$(id -u)" -ne 0 ] && SUDO=sudo
	export DEBIAN_FRONTEND=noninteractive
	if printf '%s\n' "${missing[@]}" | grep -qx postfix; then
		echo "postfix postfix/main_mailer_type select No configuration" | $SUDO debconf-set-selections
	fi
	if printf '%s\n' "${missing[@]}" | grep -qx roundcube; then
		# The bench makes its own database; no dbconfig-common set-up.
		echo "roundcube-core roundcube/dbconfig-install boolean false" | $SUDO debconf-set-selections
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
	if printf '%s\n' "${missing[@]}" | grep -qx rspamd; then
		# The tests start private rspamd, redis and clamd instances on free
		# ports; the system services (and freshclam, which would download
		# signatures) stay off.
		for u in rspamd redis-server clamav-daemon clamav-daemon.socket clamav-freshclam; do
			$SUDO systemctl disable --now "$u" >/dev/null 2>&1 || true
		done
	fi
	if printf '%s\n' "${missing[@]}" | grep -qx roundcube; then
		# Roundcube's daily clean-up timer is for a system instance; there is none.
		$SUDO systemctl disable --now roundcube-gc.timer >/dev/null 2>&1 || true
	fi
fi
# The web application: npm ci from the committed lockfile, then the build
# into web/dist that `make` embeds (scripts/embed-web). For the tests, the
# npm clients' own packages: jmap-jam (tests/e2e/jmap) and playwright-core,
# which drives Debian's chromium (tests/e2e/web).
root=$(cd "$(dirname "$0")/.." && pwd)
(cd "$root/web" && npm ci --no-audit --no-fund --loglevel=error && npm run --silent build)
if [ "$what" = test ] || [ "$what" = bench ]; then
	(cd "$root/tests/e2e/jmap" && npm ci --no-audit --no-fund --loglevel=error)
	(cd "$root/tests/e2e/web" && npm ci --no-audit --no-fund --loglevel=error)
fi

# Verify every tool and feature the build, tests and benches use, so that a
# missing piece fails here with a clear message and not in the middle of
# the suite (a package's recommended packages are not installed for us).
failed=0
need() { # need DESCRIPTION COMMAND...
	local what=$1
	shift
	if ! "$@" >/dev/null 2>&1; then
		echo "deps: MISSING: $what (check: $*)" >&2
		failed=1
	fi
}
need "pkg-config modules of the build" pkg-config --exists openssl sqlite3 libsodium gmime-3.0 zlib opendkim jansson libcurl
need "libunbound headers" test -e /usr/include/unbound.h
need "node and npm (web application build)" sh -c 'command -v node && command -v npm'
need "the built web application (web/dist)" test -f "$root/web/dist/index.html"
if [ "$what" = test ] || [ "$what" = bench ]; then
	need "cmocka" pkg-config --exists cmocka
	need "clang with libFuzzer" sh -c 'printf "int LLVMFuzzerTestOneInput(const char *d, unsigned long n){return 0;}" |
		clang -x c -fsanitize=fuzzer,address,undefined -o /dev/null -'
	need "clang-format and clang-tidy" sh -c 'command -v clang-format && command -v clang-tidy'
	need "Debian's python3 with pytest" /usr/bin/python3 -c 'import pytest'
	need "swaks with TLS (Perl Net::SSLeay)" sh -c 'perl -MNet::SSLeay -e1 && swaks --support 2>&1 | grep -q "=== TLS supported"'
	need "curl with IMAP(S), POP3(S), SMTP(S)" sh -c 'curl -V | grep "^Protocols" | grep -w imaps | grep -w pop3s | grep -qw smtps'
	need "fetchmail with SSL" sh -c 'fetchmail -V 2>&1 | grep -q SSL'
	need "mbsync (isync)" sh -c 'command -v mbsync'
	need "srs (Mail::SRS)" sh -c 'command -v srs && perl -MMail::SRS -e1'
	need "offlineimap3" sh -c 'command -v offlineimap'
	need "mutt with TLS" sh -c 'mutt -v | grep -q "+USE_SSL_"'
	need "script (bsdutils)" sh -c 'command -v script'
	need "unbound" sh -c 'command -v unbound || test -x /usr/sbin/unbound'
	need "fail2ban-regex" sh -c 'command -v fail2ban-regex'
	need "sieve-connect with TLS and SASL (IO::Socket::SSL, Authen::SASL)" sh -c 'command -v sieve-connect && perl -MIO::Socket::SSL -MAuthen::SASL -MIO::Socket::INET6 -MTerm::ReadKey -e1'
	need "rspamd 3 with its antivirus plugin" sh -c 'rspamd --version | grep -q "version 3\." && test -f /usr/share/rspamd/plugins/antivirus.lua'
	need "redis-server (rspamd's Bayes)" sh -c 'command -v redis-server'
	need "clamd (ClamAV daemon)" sh -c 'command -v clamd || test -x /usr/sbin/clamd'
	# Debian's curl has no SCRAM (it would need libgsasl): gsasl is the SCRAM client.
	need "gsasl with SCRAM-SHA-256-PLUS and tls-exporter" sh -c 'gsasl --client-mechanisms 2>&1 | grep -qw SCRAM-SHA-256-PLUS && gsasl --version | grep -q "GNU SASL) 2\.[2-9]"'
	need "Debian's chromium (browser tests)" sh -c 'command -v chromium'
	need "the npm test clients (jmap-jam, playwright-core)" sh -c "test -d '$root/tests/e2e/jmap/node_modules/jmap-jam' && test -d '$root/tests/e2e/web/node_modules/playwright-core'"
fi
if [ "$what" = bench ]; then
	need "Postfix (postfix, postconf, smtp-source)" sh -c 'command -v postfix && command -v postconf && command -v smtp-source'
	need "Dovecot (dovecot, doveadm)" sh -c 'command -v dovecot && command -v doveadm'
	need "strace (counts syscalls with -c)" sh -c 'strace -c -o /dev/null true'
	need "Roundcube 1.6 (Debian's package)" sh -c 'test -f /var/lib/roundcube/public_html/index.php && grep -q "Version 1\.6" /usr/share/roundcube/index.php'
	need "PHP CLI with SQLite (PDO), intl, mbstring and opcache (Roundcube under php -S)" sh -c 'php -m | grep -qx pdo_sqlite && php -m | grep -qx intl && php -m | grep -qx mbstring && php -d opcache.enable_cli=1 -r "exit(function_exists(\"opcache_get_status\") ? 0 : 1);"'
	need "no Apache left by the PHP packages" sh -c '! dpkg-query -W -f="\${Status}" apache2 2>/dev/null | grep -q "install ok installed"'
fi
if [ "$failed" -ne 0 ]; then
	echo "deps: some tools are missing or lack a feature (see above); install them and run again" >&2
	exit 1
fi
