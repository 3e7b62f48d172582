#!/usr/bin/env bash
# packages.sh - sourced by quickstart.sh and .ci/run: the Debian packages swarm
# needs, and a function that installs the missing ones without prompting.
SWARM_PACKAGES=(build-essential cmake pkg-config libzmq3-dev libprotobuf-c-dev
    protobuf-c-compiler libcjson-dev libhiredis-dev libuv1-dev libpcre2-dev
    redis-server python3 python3-numpy python3-jsonschema
    libmicrohttpd-dev libcurl4-openssl-dev libseccomp-dev bubblewrap git)

swarm_install_packages() {
    local missing=() p
    for p in "${SWARM_PACKAGES[@]}"; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" ||
            missing+=("$p")
    done
    if ((${#missing[@]} == 0)); then
        return 0
    fi
    if [ "$(id -u)" -ne 0 ]; then
        echo "swarm: missing Debian packages: ${missing[*]}" >&2
        echo "swarm: run this as root, or: sudo apt-get install ${missing[*]}" >&2
        return 1
    fi
    echo "swarm: installing ${missing[*]}" >&2
    export DEBIAN_FRONTEND=noninteractive
    apt-get update
    apt-get install -y --no-install-recommends "${missing[@]}"
}
