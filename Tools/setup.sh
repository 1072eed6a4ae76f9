#!/usr/bin/env bash
# Installs what a fresh Debian/Ubuntu machine lacks to build and test ResultsHub: zlib's headers (zlib1g-dev), and
# for the tests the Prometheus text parser of the `prometheus_client` Python package (the reference parser that
# reads the hub's /metrics). The Swift toolchain itself is assumed (Swift 6.2 or later). Does nothing when all is
# there; as an ordinary user, it names what is missing rather than installing it without sudo.
set -euo pipefail
sudo_if_needed=""
if [ "$(id -u)" -ne 0 ]; then sudo_if_needed="sudo"; fi

if ! dpkg -s zlib1g-dev >/dev/null 2>&1; then
    $sudo_if_needed apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo_if_needed apt-get install -y -qq zlib1g-dev
fi

if ! python3 -c "import prometheus_client" >/dev/null 2>&1; then
    if [ "$(id -u)" -eq 0 ]; then
        python3 -m pip install -q --root-user-action=ignore prometheus_client
    else
        python3 -m pip install -q --user prometheus_client
    fi
fi
