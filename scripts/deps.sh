#!/usr/bin/env bash
# Install the Debian packages rampart needs to build, run and test.
# Idempotent: only missing packages are installed; apt-get update runs at
# most once per invocation and only when something is missing.
set -euo pipefail

PKGS=(
  build-essential cmake pkg-config git
  libevent-dev libssl-dev libsqlite3-dev libjansson-dev libsodium-dev
  libgmime-3.0-dev libvectorscan-dev libpcre2-dev libspf2-dev
  libcmocka-dev python3-pytest openssl
  postfix clamav-daemon spamassassin dnsmasq-base
  corosync libcorosync-common-dev libcpg-dev libquorum-dev libvotequorum-dev libcmap-dev libcfg-dev
  iproute2 procps psmisc zip
  chromium nodejs
)

missing=()
for p in "${PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

if [ "$(id -u)" -ne 0 ]; then
  echo "deps.sh: missing packages: ${missing[*]} (run as root to install)" >&2
  exit 1
fi
echo "deps.sh: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
# Postfix asks questions at install; answer them so the install never waits.
echo "postfix postfix/main_mailer_type select No configuration" | debconf-set-selections
echo "postfix postfix/mailname string localhost" | debconf-set-selections
# Services shipped by these packages must not be started by the install
# (tests start their own instances with their own configuration).
printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d
chmod +x /usr/sbin/policy-rc.d
trap 'rm -f /usr/sbin/policy-rc.d' EXIT
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}"
