#!/bin/bash
# mcp_test.sh PREFIX VERSION TEST_BINARY CASE - installs the reference MCP
# filesystem server from npm into PREFIX (once, under a lock, so parallel
# ctest cases do not race) and runs one MCP case against it. Without node/npm
# or the registry the case skips (77), except under CI=true where it fails.
set -u
prefix=$1 version=$2 bin=$3 case=$4
pkg=@modelcontextprotocol/server-filesystem
entry=$prefix/node_modules/$pkg/dist/index.js
fail_or_skip() {
    echo "$1" >&2
    if [ "${CI:-}" = "true" ]; then exit 1; fi
    exit 77
}
command -v node >/dev/null || fail_or_skip "node not installed"
command -v npm >/dev/null || fail_or_skip "npm not installed"
mkdir -p "$prefix"
(
    flock 9
    have=$(node -p "require('$prefix/node_modules/$pkg/package.json').version" 2>/dev/null)
    if [ "$have" != "$version" ]; then
        npm install --prefix "$prefix" --no-audit --no-fund --loglevel=error "$pkg@$version" >&2 ||
            exit 1
    fi
) 9>"$prefix/.lock" || fail_or_skip "npm install $pkg@$version failed"
[ -f "$entry" ] || fail_or_skip "$entry missing after install"
exec "$bin" "$case" "$entry"
