#!/usr/bin/env bash
# Installs what a fresh Debian/Ubuntu machine lacks to build ResultsHub: zlib's headers (zlib1g-dev).
# The Swift toolchain itself is assumed (Swift 6.2 or later).
set -euo pipefail
if dpkg -s zlib1g-dev >/dev/null 2>&1; then
    exit 0
fi
sudo_if_needed=""
if [ "$(id -u)" -ne 0 ]; then sudo_if_needed="sudo"; fi
$sudo_if_needed apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo_if_needed apt-get install -y -qq zlib1g-dev
