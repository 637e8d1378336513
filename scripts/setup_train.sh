#!/usr/bin/env bash
# Installs what training and the tests need beyond pip: the Debian font packages the synthetic
# generator renders with, an English word list, and a virtual display for the window test.
# Safe to run twice.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
packages=$(cat "$here/font-packages.txt" "$here/test-packages.txt" | grep -v '^#' | tr '\n' ' ')
missing=$(dpkg-query -W -f='${Package} ${Status}\n' wamerican $packages 2>/dev/null \
  | awk '$NF != "installed" {print $1}' || true)
missing="$missing $(for p in wamerican $packages; do dpkg -s "$p" >/dev/null 2>&1 || echo "$p"; done)"
missing=$(echo $missing | tr ' ' '\n' | sort -u | tr '\n' ' ')
if [ -n "${missing// /}" ]; then
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends $missing
fi
echo "fonts and word list ready"
