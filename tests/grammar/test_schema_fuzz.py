#!/usr/bin/python3
"""test_schema_fuzz.py - the JSON Schema compiler against an independent
validator on random schemas and random instances.

Random schemas over the supported keywords (types, enum/const, properties /
required / additionalProperties / dependentRequired / dependentSchemas /
propertyNames / min/maxProperties, items / prefixItems / contains / counts, string lengths
and patterns, integer and number bounds, allOf / anyOf / oneOf, not around
types, $ref into $defs) and random instances (half built to fit the schema,
half anything) are checked with Debian's python3-jsonschema (Draft 2020-12)
and with the compiled grammar (test_schema_suite --check). Every schema the
compiler accepts must agree with the validator on every instance: valid ->
accepted (in some member order), invalid -> rejected. Refusals are allowed
(counted) but must be a minority. Fixed seed, so a failure reproduces.

usage: test_schema_fuzz.py TEST_SCHEMA_SUITE [N_SCHEMAS] [SEED]
"""
import json
import os
import random
import subprocess
import sys
import tempfile

try:
    import jsonschema
except ImportError:
    print("python3-jsonschema is not installed (apt-get install python3-jsonschema)")
    sys.exit(1 if os.environ.get("CI") == "true" else 77)

NAMES = ["a", "b", "c", "", "a b", "q\"", "ü"]
CHARS = ["a", "b", "z", "0", "7", " ", "-", "\"", "\\", "\n", "é", "日", "\U0001F600"]
PATTERNS = ["^a+$", "b", "^[a-c]{1,3}$", "^(ab|z)*$", "[0-9]", "^.$", "^[^ab]*$", "^\\d+-?$",
            "z$", "^$", "^(a|b)?[0-9]{2}$"]


class Gen:
    def __init__(self, rnd):
        self.r = rnd

    def string(self):
        return "".join(self.r.choice(CHARS) for _ in range(self.r.randint(0, 4)))

    def scalar(self):
        k = self.r.randint(0, 6)
        if k == 0:
            return None
        if k == 1:
            return self.r.choice([True, False])
        if k == 2:
            return self.r.randint(-20, 20)
        if k == 3:
            return self.r.randint(-80, 80) / 8
        return self.string()

    def value(self, depth=0):
        k = self.r.randint(0, 9 if depth < 3 else 6)
        if k <= 6:
            return self.scalar()
        if k == 7:
            return [self.value(depth + 1) for _ in range(self.r.randint(0, 3))]
        return {self.r.choice(NAMES): self.value(depth + 1) for _ in range(self.r.randint(0, 3))}

    def schema(self, depth=0, defs=None):
        r = self.r
        if depth > 3:
            return r.choice([True, {"type": r.choice(["string", "integer", "null"])}])
        k = r.randint(0, 15)
        if k == 0:
            return r.choice([True, False, {}])
        if k == 1:
            return {"type": r.sample(["null", "boolean", "object", "array", "string", "number",
                                      "integer"], r.randint(1, 3))}
        if k == 2:
            return {"enum": [self.value(2) for _ in range(r.randint(1, 4))]}
        if k == 3:
            return {"const": self.value(2)}
        if k == 4:
            s = {"type": "string"}
            if r.random() < 0.5:
                s["minLength"] = r.randint(0, 3)
            if r.random() < 0.5:
                s["maxLength"] = r.randint(0, 4)
            return s
        if k == 5:
            return {"type": "string", "pattern": r.choice(PATTERNS)}
        if k in (6, 7):
            s = {"type": r.choice(["integer", "number"])}
            for kw in ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum"):
                if r.random() < 0.35:
                    s[kw] = r.choice([r.randint(-10, 10), r.randint(-40, 40) / 4])
            if r.random() < 0.2:
                del s["type"]
            return s
        if k in (8, 9):
            props = {n: self.schema(depth + 1, defs) for n in r.sample(NAMES, r.randint(0, 3))}
            s = {"type": "object", "properties": props}
            if props and r.random() < 0.6:
                s["required"] = r.sample(list(props), r.randint(1, len(props)))
            ap = r.randint(0, 3)
            if ap == 1:
                s["additionalProperties"] = False
            elif ap == 2:
                s["additionalProperties"] = self.schema(depth + 1, defs)
            if props and r.random() < 0.25:
                s["dependentRequired"] = {r.choice(NAMES): r.sample(NAMES, r.randint(0, 2))}
            if props and r.random() < 0.2:
                s["dependentSchemas"] = {r.choice(list(props)): self.schema(depth + 1, defs)}
            if r.random() < 0.2:
                s["minProperties"] = r.randint(0, 3)
            if r.random() < 0.2:
                s["maxProperties"] = r.randint(0, 3)
            if r.random() < 0.15:
                s["propertyNames"] = r.choice([False, True, {"type": "string"},
                                               {"const": r.choice(NAMES)},
                                               {"enum": r.sample(NAMES, r.randint(1, 3))}])
            if r.random() < 0.15:
                del s["type"]
            return s
        if k == 10:
            s = {"type": "array"}
            if r.random() < 0.5:
                s["prefixItems"] = [self.schema(depth + 1, defs) for _ in range(r.randint(1, 2))]
            if r.random() < 0.7:
                s["items"] = self.schema(depth + 1, defs)
            if r.random() < 0.4:
                s["minItems"] = r.randint(0, 2)
            if r.random() < 0.4:
                s["maxItems"] = r.randint(0, 3)
            if r.random() < 0.3 and "prefixItems" not in s and "maxItems" not in s:
                s["contains"] = self.schema(depth + 1, defs)
            return s
        if k == 11:
            return {r.choice(["anyOf", "allOf"]): [self.schema(depth + 1, defs)
                                                   for _ in range(r.randint(1, 3))]}
        if k == 12:  # oneOf, often disjoint by type, a const tag or closed objects
            if r.random() < 0.3:
                return {"oneOf": [{"type": "object", "properties": {n: self.schema(depth + 1, defs)},
                                   "required": [n], "additionalProperties": r.random() < 0.7}
                                  for n in r.sample(NAMES, r.randint(1, 3))]}
            if r.random() < 0.5:
                ts = r.sample(["string", "integer", "null", "array", "boolean"], 2)
                return {"oneOf": [{"type": t} for t in ts]}
            return {"oneOf": [{"type": "object", "properties": {"k": {"const": i},
                                                                "v": self.schema(depth + 1, defs)},
                               "required": ["k"]} for i in range(r.randint(1, 3))]}
        if k == 13:
            return {"not": {"type": r.choice(["integer", "string", ["null", "object"]])}}
        if k == 14 and defs is not None:
            name = "d%d" % len(defs)
            defs[name] = {"type": "object",
                          "properties": {"v": {"type": "integer"},
                                         "next": {"$ref": "#/$defs/" + name}},
                          "required": ["v"]}
            return {"$ref": "#/$defs/" + name}
        s = self.schema(depth + 1, defs)
        if isinstance(s, dict) and "type" not in s and r.random() < 0.5:
            s["type"] = r.choice(["object", "array", "string", "number"])
        return s

    def instance(self, s, depth=0):
        """A value shaped by the schema when possible, else random."""
        r = self.r
        if not isinstance(s, dict) or r.random() < 0.25 or depth > 4:
            return self.value(depth)
        if "const" in s:
            return s["const"]
        if "enum" in s:
            return r.choice(s["enum"])
        for kw in ("anyOf", "oneOf", "allOf"):
            if kw in s:
                return self.instance(r.choice(s[kw]), depth)
        if "$ref" in s:
            return {"v": r.randint(0, 3)} if r.random() < 0.5 else \
                {"v": 1, "next": {"v": 2, "next": {"v": 3}}}
        t = s.get("type")
        t = r.choice(t) if isinstance(t, list) else t
        if t == "object" or "properties" in s:
            o = {}
            for n, sub in s.get("properties", {}).items():
                if r.random() < 0.8:
                    o[n] = self.instance(sub, depth + 1)
            if r.random() < 0.3:
                o[r.choice(NAMES)] = self.value(depth + 1)
            return o
        if t == "array" or "items" in s or "prefixItems" in s:
            out = [self.instance(p, depth + 1) for p in s.get("prefixItems", [])]
            for _ in range(r.randint(0, 3)):
                out.append(self.instance(s.get("items", True), depth + 1))
            return out
        if t == "string":
            return self.string()
        if t in ("integer", "number") or "minimum" in s or "maximum" in s:
            return r.randint(-12, 12) if t == "integer" or r.random() < 0.5 else \
                r.randint(-48, 48) / 4
        return self.value(depth)


def ecma_patterns(s):
    """The validator runs patterns with Python's re, where $ also matches
    before a final newline; ECMA-262 (the JSON Schema dialect) ends only at
    the end: \\Z is that in Python."""
    if isinstance(s, list):
        return [ecma_patterns(x) for x in s]
    if not isinstance(s, dict):
        return s
    out = {}
    for k, v in s.items():
        if k == "pattern" and isinstance(v, str) and v.endswith("$") and not v.endswith("\\$"):
            out[k] = v[:-1] + "\\Z"
        elif k in ("enum", "const"):
            out[k] = v
        else:
            out[k] = ecma_patterns(v)
    return out


def main():
    if len(sys.argv) < 2:
        print(__doc__)
        return 2
    tool = sys.argv[1]
    n = int(sys.argv[2]) if len(sys.argv) > 2 else 400
    seed = int(sys.argv[3]) if len(sys.argv) > 3 else 7
    gen = Gen(random.Random(seed))
    cases = []
    for _ in range(n):
        defs = {}
        s = gen.schema(0, defs)
        if defs:
            s = {"allOf": [s], "$defs": defs}
        insts = [gen.instance(s) for _ in range(12)]
        cases.append((s, insts))
    with tempfile.NamedTemporaryFile("w", suffix=".jsonl", delete=False) as f:
        for s, insts in cases:
            f.write(json.dumps({"schema": s, "instances": insts}, ensure_ascii=False) + "\n")
        path = f.name
    try:
        p = subprocess.run([tool, "--check", path], capture_output=True, timeout=600)
    finally:
        os.unlink(path)
    if p.returncode != 0:
        print(f"{tool} --check exited {p.returncode}: {p.stderr.decode(errors='replace')[-500:]}")
        return 1
    lines = p.stdout.decode().split("\n")
    refused = checked = mismatches = 0
    reasons = {}
    for (s, insts), line in zip(cases, lines):
        if line.startswith("refused:"):
            refused += 1
            key = line.split(": ")[-1][:60]
            reasons[key] = reasons.get(key, 0) + 1
            continue
        v = jsonschema.Draft202012Validator(ecma_patterns(s))
        for inst, got in zip(insts, line):
            want = v.is_valid(inst)
            checked += 1
            if want != (got == "1"):
                mismatches += 1
                if mismatches <= 10:
                    print(f"MISMATCH: schema {json.dumps(s, ensure_ascii=False)}\n"
                          f"  instance {json.dumps(inst, ensure_ascii=False)}: validator "
                          f"{'valid' if want else 'invalid'}, grammar "
                          f"{'accepts' if got == '1' else 'rejects'}")
    print(f"{n} random schemas (seed {seed}): {n - refused} compiled, {refused} refused; "
          f"{checked} instances checked, {mismatches} mismatches")
    for k, c in sorted(reasons.items(), key=lambda x: -x[1])[:8]:
        print(f"  refused {c}x: {k}")
    if refused > n // 2:
        print("FAIL: more than half of the random schemas were refused")
        return 1
    return 1 if mismatches else 0


if __name__ == "__main__":
    sys.exit(main())
