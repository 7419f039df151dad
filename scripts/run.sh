#!/usr/bin/env bash
# `make run`: one node in the foreground with working defaults on
# loopback. State lives under ./run (kept between runs).
set -euo pipefail
build=${1:-build}
top=$(cd "$(dirname "$0")/.." && pwd)
run="$top/run"
conf="$run/rampart.conf"
mkdir -p "$run"
if [ ! -f "$conf" ]; then
	cat > "$conf" <<CONF
# rampart bootstrap file (node-local settings only; everything else is in
# the config store: see 'rampart -c $conf config list')
data_dir = $run/data
smtp_listen = 127.0.0.1:2525
http_listen = 127.0.0.1:8443
hostname = localhost
log_level = info
CONF
	# SpamAssassin's rule files (Debian's spamassassin package) next to the
	# project's rules: the first start compiles them in the background
	# (cached under data/rules-cache for later starts)
	if [ -d /usr/share/spamassassin ]; then
		echo "rules = $top/rules:/usr/share/spamassassin" >> "$conf"
	fi
fi
cli="$top/$build/rampart -c $conf"
# Demo defaults on first run: one local domain delivered into a Maildir.
if ! $cli domain list --json 2>/dev/null | grep -q '"name"'; then
	$cli domain add example.com --destination "maildir:$run/data/maildir" >/dev/null
	$cli domain add example.org --destination "maildir:$run/data/maildir" >/dev/null
	$cli config set quarantine_score 5.0 >/dev/null
fi
cat <<INFO
rampart is starting (Ctrl-C stops it):
  SMTP        127.0.0.1:2525  (domains: example.com, example.org)
  web / API   https://127.0.0.1:8443/   (user "admin"; on the first start the generated
              password is printed below: "initial admin password: ..."; change it with
              $build/rampart -c $conf admin passwd)   metrics: https://127.0.0.1:8443/metrics
  config      $conf
  data        $run/data   (mail delivered to $run/data/maildir/<address>/new)
  rules       rules/ + SpamAssassin's rule files; the first start compiles them in the
              background for 2-3 minutes of CPU (mail is answered 451 until then)
  CLI         $build/rampart -c $conf status
  try         swaks/smtplib to 127.0.0.1:2525, e.g.:
              /usr/bin/python3 -c "import smtplib; smtplib.SMTP('127.0.0.1',2525).sendmail('me@example.org',['user@example.com'],'Subject: hi\r\n\r\nhello\r\n')"
INFO
exec "$top/$build/rampartd" -c "$conf"
