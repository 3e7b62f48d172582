#!/bin/sh
# run.sh - run examples/coding as a coding job (agent.git), as a user would.
#
# A nested .git cannot be committed with the example, so the repository is
# made here: repo/ is copied into DIR/repo, `git init`ed and committed on
# branch main; DIR/job.json is job.json with agent.git {base: main, check:
# sh check.sh} added; then `swarm run --job DIR/job.json --json` runs it.
# Every agent works on its own branch swarm/<job>/<task>; the merge step (the
# job's last task) merges them into swarm/<job>/merged, rolls back any merge
# that breaks the check, and its output (in the printed result) is the merge
# report with the check command's verdict.
#
# usage: run.sh DIR [swarm run options: --engine replay, --workers N, --model M, --state S]
#   SWARM=path/to/swarm        the CLI (default: swarm on PATH)
#   SANDBOX=unsandboxed        where bubblewrap is not available
#   SWARM_REPLAY=trajectory.jsonl with --engine replay: the recorded fixes
set -eu
here=$(cd "$(dirname "$0")" && pwd)
if [ $# -lt 1 ]; then
    echo "usage: $0 DIR [swarm run options]" >&2
    exit 2
fi
dir=$1
shift
swarm=${SWARM:-swarm}
if [ -e "$dir/repo" ]; then
    echo "run.sh: $dir/repo already exists; give a new directory" >&2
    exit 2
fi
mkdir -p "$dir"
cp -R "$here/repo" "$dir/repo"
git -C "$dir/repo" init -q -b main
git -C "$dir/repo" add -A
git -C "$dir/repo" -c user.name=swarm -c user.email=swarm@localhost \
    commit -q -m "examples/coding: a small C library whose tests fail"
sed -e 's|"workspace": "repo",|"workspace": "repo",\
    "git": {"base": "main", "check": "sh check.sh"},|' \
    -e "s|\"sandbox\": \"bwrap\"|\"sandbox\": \"${SANDBOX:-bwrap}\"|" \
    "$here/job.json" >"$dir/job.json"
if ! grep -q '"git": {"base": "main"' "$dir/job.json"; then
    echo "run.sh: could not add agent.git to $dir/job.json (job.json changed shape?)" >&2
    exit 2
fi
exec "$swarm" run --job "$dir/job.json" --json "$@"
