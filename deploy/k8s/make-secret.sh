#!/usr/bin/env bash
# make-secret.sh [NAME] - print a Kubernetes Secret (default name swarm-curve)
# holding fresh CURVE keys for a swarm: swarmd's keypair, one keypair shared
# by the worker pods, one for the CLI, and authorized_keys listing the worker
# and CLI public keys. Apply it: deploy/k8s/make-secret.sh | kubectl apply -f -
# A CLI outside the cluster uses cli.key and swarmd.pub from it, e.g.
#   kubectl get secret swarm-curve -o jsonpath='{.data.cli\.key}' | base64 -d >cli.key
# Needs `swarm` on PATH (or SWARM_BIN=DIR) and base64.
set -euo pipefail
name=${1:-swarm-curve}
swarm=${SWARM_BIN:+$SWARM_BIN/}swarm
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
for n in swarmd worker cli; do "$swarm" keygen "$n" --out "$dir" >/dev/null; done
cat "$dir/worker.pub" "$dir/cli.pub" >"$dir/authorized_keys"
echo "apiVersion: v1"
echo "kind: Secret"
echo "metadata:"
echo "  name: $name"
echo "  labels: {app.kubernetes.io/part-of: swarm}"
echo "type: Opaque"
echo "data:"
for f in swarmd.key swarmd.pub worker.key worker.pub cli.key cli.pub authorized_keys; do
    echo "  $f: $(base64 -w0 <"$dir/$f")"
done
