#!/usr/bin/env bash
# Installs, from Debian 12's packages, whatever binvault's build and tests need and the machine
# lacks. Fast when nothing is missing. Needs root (or sudo) only when something must be installed.
set -euo pipefail

PKGS=(
    build-essential pkg-config clang
    libmariadb-dev libmariadb-dev-compat libcurl4-openssl-dev libssl-dev liblz4-dev libevent-dev
    zlib1g-dev libzstd-dev
    mariadb-server mariadb-client mariadb-backup
    python3 procps psmisc iproute2 openssl curl xxd valgrind prometheus
)
# Extra groups, by name: BV_DEPS_EXTRA="s3 bench fault" adds theirs.
for extra in ${BV_DEPS_EXTRA:-}; do
    case "$extra" in
    s3) PKGS+=(swift swift-proxy swift-account swift-container swift-object memcached) ;;
    bench) PKGS+=(awscli bc sysbench lz4) ;;
    fault) PKGS+=(fiu-utils libfiu-dev nftables) ;;
    *) echo "deps.sh: unknown extra group '$extra'" >&2; exit 64 ;;
    esac
done

missing=()
for p in "${PKGS[@]}"; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
        missing+=("$p")
    fi
done
[ ${#missing[@]} -eq 0 ] && exit 0

echo "deps.sh: installing ${missing[*]}" >&2
SUDO=
if [ "$(id -u)" -ne 0 ]; then
    command -v sudo >/dev/null || { echo "deps.sh: need root to install: ${missing[*]}" >&2; exit 1; }
    SUDO=sudo
fi
export DEBIAN_FRONTEND=noninteractive
# The Debian packages must not start their services on this machine: tests start their own.
if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' | $SUDO tee /usr/sbin/policy-rc.d >/dev/null
    $SUDO chmod +x /usr/sbin/policy-rc.d
fi
$SUDO apt-get update -q >/dev/null
$SUDO apt-get install -y -q --no-install-recommends "${missing[@]}" >/dev/null
