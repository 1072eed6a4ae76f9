#!/usr/bin/env bash
# Installs, from Debian's packages, what a fresh Debian/Ubuntu machine lacks to build and test ResultsHub: zlib's
# headers (zlib1g-dev), and for the tests the Prometheus text parser of the `prometheus_client` Python package
# (python3-prometheus-client, for the system's /usr/bin/python3: the reference parser that reads the hub's /metrics),
# redis-server, the baseline that `hub-load compare` starts on loopback as the current user, chromium, the
# headless browser the tests load results-web's page in, and postgresql, the server that Tools/with-postgres.sh
# starts on loopback as an unprivileged user for the tests that need a real PostgreSQL.
# The Swift toolchain itself is assumed (Swift 6.2 or later). Does nothing when everything is there.
set -euo pipefail
missing=()
dpkg -s zlib1g-dev >/dev/null 2>&1 || missing+=(zlib1g-dev)
/usr/bin/python3 -c "import prometheus_client" >/dev/null 2>&1 || missing+=(python3-prometheus-client)
[ -x /usr/bin/redis-server ] || missing+=(redis-server)
[ -x /usr/bin/chromium ] || missing+=(chromium)
# Debian keeps the server's programs off PATH, in one directory per major version.
compgen -G '/usr/lib/postgresql/*/bin/initdb' >/dev/null || missing+=(postgresql)
if [ ${#missing[@]} -eq 0 ]; then
    exit 0
fi
sudo_if_needed=""
if [ "$(id -u)" -ne 0 ]; then sudo_if_needed="sudo"; fi
$sudo_if_needed apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo_if_needed apt-get install -y -qq "${missing[@]}"
