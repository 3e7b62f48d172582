#!/bin/bash
# prof_swarm.sh BINDIR [TASKS] [SLOTS] - where a swarm's CPU goes per sub-task: one job
# of TASKS (20000) no-op sub-tasks on the labelled SIMULATED engine (0 us per token) on
# a private swarm (swarm up: redis-server, swarmd, 2 workers x SLOTS (16) slots);
# checks the result (every sub-task once), prints the wall times, each process's CPU
# (utime + stime from /proc) in us per sub-task, and Redis' top INFO commandstats.
B=${1:?usage: prof_swarm.sh BINDIR [TASKS] [SLOTS]}; N=${2:-20000}; SLOTS=${3:-16}
S=$(mktemp -d /tmp/profsw.XXXX)
export SWARM_SIM_TOKEN_US=0
$B/swarm up --workers 2 --slots $SLOTS --engine sim --state $S >/dev/null || exit 1
python3 - "$N" "$S/job.json" <<'PY'
import json, sys
n = int(sys.argv[1]); items = ["bench-%05d" % i for i in range(n)]
json.dump({"name": "b", "goal": "You are a benchmark agent.", "instructions": "Say one short thing about {item}.",
           "fanout": {"items": items}, "merge": "concat",
           "budget": {"max_tokens": 2, "max_attempts": 3, "max_subtasks": n},
           "sampling": {"temperature": 0.0, "seed": 1}}, open(sys.argv[2], "w"))
PY
cpu() { awk '{s=$0; sub(/.*\) /,"",s); split(s,a," "); print a[12]+a[13]}' /proc/$1/stat; }
PIDS="$(cat $S/redis.pid) $(awk '{print $1}' $S/swarmd.pid) $(cat $S/worker-*.pid | awk '{print $1}')"
declare -A c0; for p in $PIDS; do c0[$p]=$(cpu $p); done
redis-cli -s $S/redis.sock CONFIG RESETSTAT >/dev/null
t0=$(date +%s.%N)
J=$($B/swarm submit $S/job.json --state $S)
$B/swarm wait $J --state $S >/dev/null
t1=$(date +%s.%N)
$B/swarm result $J --json --state $S > $S/res.json
t2=$(date +%s.%N)
python3 -c "
import json,sys; r=json.load(open('$S/res.json')); n=$N
ok = r.get('done')==n and len(r['results'])==n and len({x['task_id'] for x in r['results']})==n
print('result ok' if ok else 'RESULT WRONG: done=%s' % r.get('done'))"
python3 -c "print('tasks $N  submit->done %.3f s  result read %.3f s  rate %.0f tasks/s (submit->result)' % ($t1 - $t0, $t2 - $t1, $N / ($t2 - $t0)))"
for p in $PIDS; do echo "  $(cat /proc/$p/comm) cpu $(( ($(cpu $p) - ${c0[$p]}) * 10 )) ms -> $(( ($(cpu $p) - ${c0[$p]}) * 10 * 1000000 / N / 1000 )) us/task"; done
redis-cli -s $S/redis.sock INFO commandstats | grep -v '^#' | sort -t= -k3 -n -r | head -12 | cut -d, -f1-3
$B/swarm down --state $S >/dev/null; rm -rf $S
