#!/bin/sh
# Installs the Debian packages ttt builds with, if any is missing (as root, or through sudo).
# Usage: scripts/deps.sh [--fuzz]   (--fuzz adds clang and its libFuzzer runtime)
set -eu
pkgs="build-essential cmake pkg-config libopenblas-openmp-dev libcjson-dev libpcre2-dev libutf8proc-dev"
if [ "${1:-}" = "--fuzz" ]; then pkgs="$pkgs clang libclang-rt-14-dev"; fi
missing=""
for p in $pkgs; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
[ -z "$missing" ] && exit 0
echo "ttt: installing$missing"
if [ "$(id -u)" -eq 0 ]; then sudo=""; else sudo="sudo"; fi
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends $missing
