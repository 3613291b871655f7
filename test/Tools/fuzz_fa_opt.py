#!/usr/bin/env python3
"""Bounded mutation fuzzing of fa-opt.

Feeds fa-opt many mutated versions of the seed inputs (the project's own lit
tests and examples) under several pass pipelines, and fails if any run dies by
a signal, prints LLVM's crash banner, or hangs. A clean error message with a
non-zero exit is the expected outcome for most mutants.

Deterministic for a given --seed; failing inputs are written to --save-dir.
"""

import argparse
import concurrent.futures
import os
import random
import re
import subprocess
import sys

NUMBERS = ["0", "1", "-1", "2", "3", "7", "16", "64", "128", "2147483648",
           "99999999999999999999", "?", "1.0e+300", "-0.0", "0x7FC00000"]
ELEMENT_TYPES = ["f16", "bf16", "f32", "f64", "i1", "i8", "index", "f8E4M3FN",
                 "complex<f32>", "vector<4xf16>"]
TOKENS = ["tensor<", ">", "(", ")", ",", ":", "->", "=", "%", "{", "}", "<",
          "#fa.causal<top_left>", "scale", "causal", "ins", "outs",
          "fa.attention", "<bottom_right>", "x", "?"]
CRASH_MARKERS = ("PLEASE submit a bug report", "Stack dump:",
                 "LLVM ERROR", "Assertion", "UNREACHABLE")


def mutate(text, rng):
    kind = rng.randrange(9)
    lines = text.split("\n")
    if kind == 0 and len(lines) > 1:  # delete a line
        del lines[rng.randrange(len(lines))]
        return "\n".join(lines)
    if kind == 1 and lines:  # duplicate a line
        i = rng.randrange(len(lines))
        lines.insert(i, lines[i])
        return "\n".join(lines)
    if kind == 2:  # replace a number (shape or attribute)
        spots = [m.span() for m in re.finditer(r"-?\d+(\.\d+)?(e[+-]?\d+)?", text)]
        if spots:
            a, b = rng.choice(spots)
            return text[:a] + rng.choice(NUMBERS) + text[b:]
    if kind == 3:  # replace an element type
        spots = [m.span() for m in re.finditer(r"\b(f16|bf16|f32)\b", text)]
        if spots:
            a, b = rng.choice(spots)
            return text[:a] + rng.choice(ELEMENT_TYPES) + text[b:]
    if kind == 4:  # drop or add a dimension
        spots = [m.span() for m in re.finditer(r"(\d+|\?)x", text)]
        if spots:
            a, b = rng.choice(spots)
            return text[:a] + ("" if rng.random() < 0.5 else "4x" + text[a:b]) + text[b:]
    if kind == 5 and text:  # truncate
        return text[: rng.randrange(len(text))]
    if kind == 6 and text:  # insert a token
        i = rng.randrange(len(text))
        return text[:i] + rng.choice(TOKENS) + text[i:]
    if kind == 7 and text:  # delete a span
        i = rng.randrange(len(text))
        return text[:i] + text[i + rng.randrange(1, 12):]
    # swap two SSA values
    names = list(set(re.findall(r"%[A-Za-z_][\w]*", text)))
    if len(names) >= 2:
        a, b = rng.sample(names, 2)
        return re.sub(re.escape(a) + r"\b", b, text, count=1)
    return text + "\n}"


def run_one(fa_opt, args, text, timeout):
    try:
        proc = subprocess.run([fa_opt, *args, "-"], input=text.encode(),
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                              timeout=timeout)
    except subprocess.TimeoutExpired:
        return "hang (over %ss)" % timeout
    err = proc.stderr.decode(errors="replace")
    if proc.returncode < 0:
        return "killed by signal %d" % -proc.returncode
    if any(marker in err for marker in CRASH_MARKERS):
        return "crash banner: " + err.strip().splitlines()[0][:200]
    return None


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--fa-opt", required=True)
    parser.add_argument("--count", type=int, default=300)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--timeout", type=float, default=20.0)
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 2)
    parser.add_argument("--save-dir", default=None)
    parser.add_argument("--pipeline", action="append", default=[],
                        help="extra fa-opt arguments to try (repeatable)")
    parser.add_argument("seeds", nargs="+")
    opts = parser.parse_args()

    corpus = []
    for path in opts.seeds:
        with open(path) as f:
            # Each split chunk is a seed of its own.
            corpus.extend(c for c in f.read().split("// -----") if "fa." in c)
    if not corpus:
        sys.exit("fuzz: no seed input contains an fa op")

    pipelines = [[], ["-canonicalize"], ["-mlir-print-op-generic"],
                 ["-verify-each", "-canonicalize", "-cse"]]
    pipelines += [p.split() for p in opts.pipeline]

    rng = random.Random(opts.seed)
    jobs = []
    for _ in range(opts.count):
        text = rng.choice(corpus)
        for _ in range(rng.randrange(1, 4)):
            text = mutate(text, rng)
        jobs.append((rng.choice(pipelines), text))

    failures = []
    with concurrent.futures.ThreadPoolExecutor(opts.jobs) as pool:
        results = pool.map(lambda j: run_one(opts.fa_opt, j[0], j[1], opts.timeout), jobs)
        for index, ((args, text), verdict) in enumerate(zip(jobs, results)):
            if verdict is None:
                continue
            failures.append(index)
            print("FUZZ FAILURE #%d (fa-opt %s): %s" % (index, " ".join(args), verdict))
            if opts.save_dir:
                os.makedirs(opts.save_dir, exist_ok=True)
                with open(os.path.join(opts.save_dir, "mutant-%d.mlir" % index), "w") as f:
                    f.write("// fa-opt %s\n%s" % (" ".join(args), text))
    print("fuzz: %d mutants, %d failures" % (len(jobs), len(failures)))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
