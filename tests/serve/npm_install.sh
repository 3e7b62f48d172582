#!/bin/sh
# npm_install.sh DIR - installs the official openai client (6.x) into DIR for
# the serve.openai* tests (ctest fixture). Without npm or a registry the
# clients cannot run: that fails under CI=true and skips (77) elsewhere.
DIR="$1"
if [ -f "$DIR/node_modules/openai/package.json" ]; then
    echo "openai $(sed -n 's/^ *"version": "\(.*\)",/\1/p' "$DIR/node_modules/openai/package.json") already in $DIR"
    exit 0
fi
nofail() {
    echo "$1"
    [ "$CI" = "true" ] && exit 1
    exit 77
}
command -v node >/dev/null && command -v npm >/dev/null || nofail "node/npm not installed"
mkdir -p "$DIR" || exit 1
npm install --prefix "$DIR" --no-audit --no-fund --loglevel=error openai@6 ||
    nofail "npm install openai@6 failed (is the npm registry reachable?)"
[ -f "$DIR/node_modules/openai/package.json" ] || nofail "openai not found in $DIR after npm install"
