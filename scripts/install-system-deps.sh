#!/usr/bin/env bash
# Installs the Debian packages Tianshan runs against, only those that are missing.
# Called by `make demo` and `make test`; safe to run again.
set -euo pipefail

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null 2>&1; then SUDO="sudo"; else
        echo "install-system-deps: not root and no sudo; install the packages listed below by hand" >&2
    fi
fi

missing=()
# package name : a file that proves it is installed
need() { [ -e "$2" ] || command -v "$2" >/dev/null 2>&1 || missing+=("$1"); }

need mosquitto /usr/sbin/mosquitto
need influxdb /usr/bin/influxd
# PostgreSQL server binaries, for the SQL layer's tests against a real server.
if ! command -v initdb >/dev/null 2>&1 && ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then
    missing+=(postgresql)
fi
# Python 3.11 with venv (Debian 12's python3 is 3.11).
if ! command -v python3.11 >/dev/null 2>&1; then missing+=(python3.11 python3.11-venv); fi
if command -v python3.11 >/dev/null 2>&1 && ! python3.11 -c 'import ensurepip, venv' >/dev/null 2>&1; then
    missing+=(python3.11-venv)
fi
for extra in "$@"; do
    case "$extra" in
        # The kiosk page and the cloud's pages carry Chinese text: without a CJK font
        # Chromium draws empty boxes for it.
        chromium)
            need chromium /usr/bin/chromium
            need fonts-wqy-microhei /usr/share/fonts/truetype/wqy/wqy-microhei.ttc
            ;;
        # User-mode emulators, to run the model as on other CPUs (ARM64 among them).
        qemu-user) need qemu-user /usr/bin/qemu-aarch64 ;;
        debootstrap) need debootstrap /usr/sbin/debootstrap ;;
        *) missing+=("$extra") ;;
    esac
done

if [ ${#missing[@]} -eq 0 ]; then
    exit 0
fi
echo "install-system-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
# --no-install-recommends keeps the footprint small; policy-rc.d stops the package
# scripts from starting system-wide services we do not use (we start our own).
if [ -d /usr/sbin ] && [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' | $SUDO tee /usr/sbin/policy-rc.d >/dev/null
    $SUDO chmod +x /usr/sbin/policy-rc.d
    trap '$SUDO rm -f /usr/sbin/policy-rc.d' EXIT
fi
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
