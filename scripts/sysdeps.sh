#!/usr/bin/env bash
# Install the Debian packages EventGuard needs, once. Usage: sysdeps.sh [--browser]
# libzbar0: pyzbar's QR decoder. chromium (with --browser): the live-map browser tests and the
# report's PDF; poppler-utils (with --browser): the tests read that PDF (pdftotext, pdftoppm).
set -euo pipefail
need=()
ldconfig -p | grep 'libzbar\.so\.0' >/dev/null || need+=(libzbar0)
if [[ "${1:-}" == "--browser" ]]; then
  [[ -x /usr/bin/chromium ]] || need+=(chromium fonts-dejavu-core)
  command -v pdftotext >/dev/null || need+=(poppler-utils)
fi
[[ ${#need[@]} -eq 0 ]] && exit 0
echo "sysdeps: installing ${need[*]}"
SUDO=""
if [[ $(id -u) -ne 0 ]]; then
  command -v sudo >/dev/null || { echo "sysdeps: need root (or sudo) to apt-get install ${need[*]}" >&2; exit 1; }
  SUDO=sudo
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
