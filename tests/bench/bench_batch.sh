#!/usr/bin/env bash
# bench_batch.sh - issue 9's batching and prefix-cache figures, one sitting:
#   1. bench_batch: aggregate tok/s of 8 streams through rt_batch vs 1 stream,
#      and a second agent's time to first token with the same 1,000-token
#      prefix (served from the prefix cache) vs the first agent's
#   2. a job of 64 sub-tasks x 16 tokens sharing a prompt head, 8 slots vs 1,
#      in process (bench_batch --job)
#   3. the same through a real swarm (redis, swarmd, one worker; embedded
#      engine), 8 slots vs 1 slot (tests/bench/bench_swarm.py)
# usage: tests/bench/bench_batch.sh [BUILD_DIR] [MODEL.gguf] [TASKS] [MAX_TOKENS]
#   defaults: build, /work/models/olmoe-q4_k_m.gguf, 64, 16
set -u
here=$(cd "$(dirname "$0")" && pwd)
src=$(cd "$here/../.." && pwd)
build=${1:-$src/build}
model=${2:-/work/models/olmoe-q4_k_m.gguf}
tasks=${3:-64}
maxtok=${4:-16}
bin="$build/bin"
[ -x "$bin/bench_batch" ] || { echo "bench_batch.sh: build bench_batch in $build first" >&2; exit 2; }
[ -f "$model" ] || { echo "bench_batch.sh: no model at $model" >&2; exit 2; }
status=0
echo "== rt_batch: 1 vs 8 streams, 1,000-token prefix ($model)"
"$bin/bench_batch" --model "$model" --streams 8 -p 32 -n 32 --prefix 1000 -t 2 || status=1
echo "== in-process job: $tasks sub-tasks x $maxtok tokens, 8 slots vs 1 (rt_batch)"
"$bin/bench_batch" --model "$model" --streams 8 --job "$tasks" -n "$maxtok" --rounds 1 -t 2 || status=1
echo "== swarm job of $tasks sub-tasks x $maxtok max tokens on one worker"
for slots in 1 8; do
    python3 "$here/bench_swarm.py" "$bin" --engine embedded --model "$model" --tasks "$tasks" \
        --workers 1 --slots "$slots" --threads 2 --max-tokens "$maxtok" --timeout 3000 --json |
        python3 -c 'import json, sys
for l in sys.stdin:
    if l.startswith("{"):
        d = json.loads(l)
        if d.get("bench") == "swarm":
            print("slots %d: %d sub-tasks, %d tokens in %.2f s = %.2f generated tok/s" % (
                d["slots"], d["tasks"], d["tokens"], d["wall_s"], d["tokens"] / d["wall_s"]))' ||
        status=1
done
exit $status
