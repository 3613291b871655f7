"""Autotuning: time the valid tile configurations once per (GPU, dtype,
head dim, mask, LSE, score_mod/mask_mod, key-length bucket) and keep the
winner on disk.

    attention(q, k, v, autotune=True)

The first call of a new bucket compiles and times every candidate (a few
seconds); later calls, in this process or the next, read the choice from
<cache dir>/autotune-<gpu>.json.
"""

import hashlib
import json
import os
import re
import threading

import torch

from ._capi import FAError

# Candidate options per strategy (0 or absent = the compiler's default for
# the head dimension). Invalid ones (registers, shared memory) are skipped.
CANDIDATES = {
    "mma-sync": [
        {},
        {"block_n": 64},
        {"block_n": 128},
        {"block_m": 64},
        {"block_n": 32},
        {"block_m": 128, "block_n": 64, "warps": 8},
    ],
    "hopper-ws": [
        {},
        {"block_n": 64},
        {"block_n": 144},
        # Two and three consumer warpgroups: at D = 64 the default is 192
        # rows without a mask and 128 with one, each the faster at some N.
        {"block_m": 128},
        {"block_m": 192},
        {"block_m": 192, "block_n": 64},
    ],
}


def candidates(chip, strategy=None):
    """Every candidate for `chip` (hopper-ws ones only on sm_90a), as full
    option dicts with their strategy; only `strategy`'s when given."""
    strategies = [strategy] if strategy else (
        ["hopper-ws", "mma-sync"] if chip == "sm_90a" else ["mma-sync"])
    return [dict(c, strategy=s) for s in strategies for c in CANDIDATES[s]]


def bucket(n):
    """Key lengths share a choice within a power-of-two bucket [128, 16384]."""
    b = 128
    while b < n and b < 16384:
        b *= 2
    return b


def mods_key(spec):
    """'' without score_mod/mask_mod (keys of earlier versions stay valid),
    else '/mods<hash of the regions and capture types>'."""
    if spec.score_mod is None and spec.mask_mod is None and not spec.captures:
        return ""
    text = json.dumps([spec.score_mod, spec.mask_mod, list(spec.captures)])
    return "/mods" + hashlib.sha256(text.encode()).hexdigest()[:16]


class Tuner:
    def __init__(self, cache, iterations=10):
        self.cache = cache
        self.iterations = iterations
        self._lock = threading.Lock()
        self._choices = None
        self._path = None

    def _file(self, device):
        name = re.sub(r"[^A-Za-z0-9]+", "-",
                      torch.cuda.get_device_name(device)).strip("-")
        return os.path.join(self.cache.directory, f"autotune-{name}.json")

    def _read(self, device):
        path = self._file(device)
        if self._path != path:
            self._path, self._choices = path, {}
            try:
                with open(path) as f:
                    self._choices = json.load(f)
            except (OSError, ValueError):
                pass
        return self._choices

    def _write(self):
        try:
            os.makedirs(os.path.dirname(self._path), exist_ok=True)
            tmp = self._path + f".{os.getpid()}.tmp"
            with open(tmp, "w") as f:
                json.dump(self._choices, f, indent=1, sort_keys=True)
            os.replace(tmp, self._path)
        except OSError:
            pass

    def best(self, spec, q, k, v, chip, captures=(), strategy=None):
        """The fastest candidate's options (with its strategy)."""
        key = (f"{chip}/{spec.dtype}/d{spec.head_dim}/{spec.causal or 'none'}"
               f"/lse{int(spec.lse)}/scale{spec.scale}{mods_key(spec)}"
               f"/n{bucket(k.shape[2])}/{strategy or 'any'}")
        with self._lock:
            choices = self._read(q.device)
            if key in choices:
                return choices[key]
            choices[key] = self._measure(spec, q, k, v, captures,
                                         candidates(chip, strategy))
            self._write()
            return choices[key]

    def _measure(self, spec, q, k, v, captures, options_list):
        from . import torch as fat  # the launcher
        timings = []
        for options in options_list:
            try:
                run = lambda: fat._run(spec, q, k, v, captures,
                                       cache=self.cache, options=options)
                run()  # compile + load + warm up
            except FAError:
                continue  # this tile does not fit this head dimension
            start = torch.cuda.Event(enable_timing=True)
            end = torch.cuda.Event(enable_timing=True)
            times = []
            for _ in range(self.iterations):
                start.record()
                run()
                end.record()
                end.synchronize()
                times.append(start.elapsed_time(end))
            times.sort()
            timings.append((times[len(times) // 2], options))
        if not timings:
            raise FAError(f"no tile configuration compiles for {spec}")
        return min(timings, key=lambda t: t[0])[1]
