#!/bin/sh
# Installs the Debian packages named as arguments that are not installed yet.
missing=""
for p in "$@"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
[ -z "$missing" ] && exit 0
if [ "$(id -u)" != 0 ]; then
    echo "portico: missing Debian packages:$missing" >&2
    echo "portico: run as root, or install them with: sudo apt-get install$missing" >&2
    exit 1
fi
echo "portico: installing$missing"
export DEBIAN_FRONTEND=noninteractive
apt-get update -q && apt-get install -y -q --no-install-recommends $missing
