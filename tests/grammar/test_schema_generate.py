#!/usr/bin/python3
"""test_schema_generate.py - generation under a JSON Schema validates.

For each of the schemas in tests/grammar/data/schema_gen (tool-call
arguments, plans with nested arrays, enums, $ref recursion, patterns, oneOf,
unicode), 3 seeds, and every fixture model architecture (one tokenizer family
each: qwen2 BPE, llama SPM, deepseek BPE), runs the command-line contract

    swarm-infer generate --model M --json-schema S -n N --seed K --prompt P

and checks the printed text with an independent validator (Debian's
python3-jsonschema, Draft 2020-12): it must parse as JSON and validate.
The models are random-weight, so they wander anywhere the grammar allows;
-n is small and the engine completes the grammar when it runs out.
The seeds rotate over the quantized files of each architecture (f32, bf16,
q8_0, q4_k_m), so every fixture GGUF generates.

usage: test_schema_generate.py SWARM_INFER FIXTURES_DIR SCHEMA_DIR
Exit 0 when all validate; 77 (skip) when fixtures are missing, 1 under CI=true.
"""
import concurrent.futures
import glob
import json
import os
import subprocess
import sys

try:
    import jsonschema
except ImportError:  # the validator is a declared dependency (deploy/packages.sh)
    print("python3-jsonschema is not installed (apt-get install python3-jsonschema)")
    sys.exit(1 if os.environ.get("CI") == "true" else 77)

SEEDS = (1, 2, 3)
N_TOKENS = 40
QUANTS = ("f32", "q8_0", "q4_k_m", "bf16")


def main():
    if len(sys.argv) != 4:
        print(__doc__)
        return 2
    infer, fixtures, schema_dir = sys.argv[1:]
    archs = sorted(d for d in glob.glob(os.path.join(fixtures, "models", "*")) if os.path.isdir(d))
    schemas = sorted(glob.glob(os.path.join(schema_dir, "*.json")))
    if not archs:
        print(f"{fixtures}: no fixture models")
        return 1 if os.environ.get("CI") == "true" else 77
    if len(schemas) < 20:
        print(f"{schema_dir}: expected 20 schemas, found {len(schemas)}")
        return 1

    jobs = []
    for a, arch_dir in enumerate(archs):
        arch = os.path.basename(arch_dir)
        for s, schema in enumerate(schemas):
            for k, seed in enumerate(SEEDS):
                quant = QUANTS[(a + s + k) % len(QUANTS)]
                model = os.path.join(arch_dir, f"{arch}-{quant}.gguf")
                if not os.path.exists(model):
                    model = sorted(glob.glob(os.path.join(arch_dir, "*.gguf")))[0]
                jobs.append((model, schema, seed))

    def run(job):
        model, schema, seed = job
        cmd = [infer, "generate", "--model", model, "--json-schema", schema, "-n", str(N_TOKENS),
               "--seed", str(seed), "--prompt", "Reply with JSON: "]
        p = subprocess.run(cmd, capture_output=True, timeout=120)
        return job, p

    failures = 0
    used_models = set()
    with concurrent.futures.ThreadPoolExecutor(max_workers=2) as ex:
        for (model, schema, seed), p in ex.map(run, jobs):
            used_models.add(os.path.basename(model))
            where = f"{os.path.basename(model)} {os.path.basename(schema)} seed {seed}"
            if p.returncode != 0:
                failures += 1
                print(f"FAIL {where}: exit {p.returncode}: {p.stderr.decode(errors='replace')[-300:]}")
                continue
            text = p.stdout.decode("utf-8", errors="strict")
            if text.endswith("\n"):
                text = text[:-1]  # the CLI ends its output with a newline
            try:
                value = json.loads(text)
            except ValueError as e:
                failures += 1
                print(f"FAIL {where}: output does not parse ({e}): {text!r}")
                continue
            with open(schema, encoding="utf-8") as f:
                sch = json.load(f)
            try:
                jsonschema.Draft202012Validator(sch).validate(value)
            except jsonschema.ValidationError as e:
                failures += 1
                print(f"FAIL {where}: {e.message}: {text!r}")
    print(f"{len(jobs)} generations ({len(schemas)} schemas x {len(SEEDS)} seeds x "
          f"{len(archs)} architectures, {len(used_models)} GGUF files), {failures} failures")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
