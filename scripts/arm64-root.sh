#!/usr/bin/env bash
# Makes an ARM64 Debian root holding Python 3.11 and the checkout's run-time packages
# (onnxruntime, OpenCV, NumPy, at the versions of this project's venv), for running the model
# as on a Raspberry Pi under QEMU (models/traycolour/portability.py). Nothing in it is run
# while it is made: debootstrap only downloads and unpacks, and the packages are ARM64 wheels
# from PyPI, so no emulator and no binfmt_misc are needed. Needs root (or sudo) for
# debootstrap; safe to run again: an existing complete root is left as it is.
#
#   scripts/arm64-root.sh [DIR]        (default var/arm64-root)
set -euo pipefail

DIR=${1:-var/arm64-root}
VENV_PYTHON=${VENV_PYTHON:-.venv/bin/python}
MIRROR=${MIRROR:-http://deb.debian.org/debian}
READY="$DIR/.complete"

if [ -e "$READY" ]; then
    exit 0
fi
SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
for tool in debootstrap dpkg-deb; do
    if ! command -v "$tool" >/dev/null 2>&1 && [ ! -x "/usr/sbin/$tool" ]; then
        echo "arm64-root: $tool not found: install Debian's debootstrap (make check-cpus does)" >&2
        exit 2
    fi
done
if [ ! -x "$VENV_PYTHON" ]; then
    echo "arm64-root: $VENV_PYTHON not found: make the project's venv first (make venv)" >&2
    exit 2
fi

work="$DIR.partial"
$SUDO rm -rf "$work"
mkdir -p "$(dirname "$DIR")"
echo "arm64-root: downloading Debian 12 for arm64 (Python 3.11) into $DIR"
# --foreign: download and unpack only; the second stage would run ARM64 programs. A second
# try after a failed download (a mirror's hiccup), then give up with the log's end.
for attempt in 1 2; do
    if $SUDO env PATH="$PATH:/usr/sbin:/sbin" debootstrap --foreign --arch=arm64 \
        --variant=minbase --include=python3 bookworm "$work" "$MIRROR" >"$DIR.log" 2>&1; then
        break
    fi
    if [ "$attempt" -eq 2 ]; then
        echo "arm64-root: debootstrap failed twice; the end of $DIR.log:" >&2
        tail -20 "$DIR.log" >&2
        exit 1
    fi
    echo "arm64-root: debootstrap failed; trying once more" >&2
    $SUDO rm -rf "$work"
done
# The first stage unpacks only the base; unpack every package it downloaded (Python among them).
for deb in "$work"/var/cache/apt/archives/*.deb; do
    $SUDO dpkg-deb -x "$deb" "$work"
done
$SUDO rm -f "$work"/var/cache/apt/archives/*.deb
$SUDO chown -R "$(id -u):$(id -g)" "$work"

pins=$("$VENV_PYTHON" - <<'PY'
from importlib.metadata import version
print(" ".join(f"{p}=={version(p)}" for p in ("onnxruntime", "numpy", "opencv-python-headless")))
PY
)
echo "arm64-root: installing ARM64 wheels: $pins"
# shellcheck disable=SC2086  # $pins is a list of requirements
"$VENV_PYTHON" -m pip install -q --target "$work/site" --only-binary :all: --python-version 3.11 \
    --platform manylinux_2_28_aarch64 --platform manylinux_2_17_aarch64 \
    --platform manylinux2014_aarch64 $pins
touch "$work/.complete"
rm -rf "$DIR"
mv "$work" "$DIR"
echo "arm64-root: ready, $(du -sh "$DIR" | cut -f1) in $DIR"
