"""Train a small transformer for 200 steps from one seed with fa_mlir's
attention and with SDPA, and compare the loss curves (issue 14's
end-to-end check of the backward).

The task: next-token prediction on sequences from a fixed random Markov
chain (vocabulary 64, each token followed by one of 4 likely successors), so
the loss falls from ln 64 toward ln 4 as the model learns the chain. The
model: 2 pre-norm blocks, width 256, 4 heads of D = 64, causal attention,
bf16 weights and activations, AdamW. Both runs draw the same initial weights
and the same batches; only the attention differs.

Criterion (bf16 training is not bitwise reproducible, and SDPA's own
backends differ): over the last 50 steps the mean absolute difference of
the two curves, each smoothed over 10 steps, must stay below 2 % of SDPA's
mean loss there, and both must have learned (final loss below 0.6 ln 64).
Writes <out>/train_compare.csv and, where matplotlib is installed, the plot
<out>/train_compare.png.

    python3 benchmarks/train_compare.py --out benchmarks/results
"""
import argparse
import csv
import math
import os
import sys

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "python"))
from fa_mlir.torch import attention as fa_attention  # noqa: E402

VOCAB, WIDTH, HEADS, LAYERS, SEQ, BATCH = 64, 256, 4, 2, 256, 16


class Block(torch.nn.Module):
    def __init__(self, attend):
        super().__init__()
        self.attend = attend
        self.norm1 = torch.nn.LayerNorm(WIDTH)
        self.qkv = torch.nn.Linear(WIDTH, 3 * WIDTH)
        self.proj = torch.nn.Linear(WIDTH, WIDTH)
        self.norm2 = torch.nn.LayerNorm(WIDTH)
        self.mlp = torch.nn.Sequential(torch.nn.Linear(WIDTH, 4 * WIDTH),
                                       torch.nn.GELU(),
                                       torch.nn.Linear(4 * WIDTH, WIDTH))

    def forward(self, x):
        b, n, _ = x.shape
        qkv = self.qkv(self.norm1(x)).view(b, n, 3, HEADS, WIDTH // HEADS)
        q, k, v = qkv.permute(2, 0, 3, 1, 4)
        out = self.attend(q, k, v).transpose(1, 2).reshape(b, n, WIDTH)
        x = x + self.proj(out)
        return x + self.mlp(self.norm2(x))


class Model(torch.nn.Module):
    def __init__(self, attend):
        super().__init__()
        self.embed = torch.nn.Embedding(VOCAB, WIDTH)
        self.position = torch.nn.Parameter(torch.randn(SEQ, WIDTH) * 0.02)
        self.blocks = torch.nn.ModuleList(Block(attend)
                                          for _ in range(LAYERS))
        self.norm = torch.nn.LayerNorm(WIDTH)
        self.head = torch.nn.Linear(WIDTH, VOCAB)

    def forward(self, tokens):
        x = self.embed(tokens) + self.position[:tokens.shape[1]]
        for block in self.blocks:
            x = block(x)
        return self.head(self.norm(x))


def batches(steps, seed):
    g = torch.Generator(device="cuda").manual_seed(seed)
    successors = torch.randint(0, VOCAB, (VOCAB, 4), device="cuda",
                               generator=g)
    for _ in range(steps):
        tokens = torch.empty(BATCH, SEQ + 1, dtype=torch.long, device="cuda")
        tokens[:, 0] = torch.randint(0, VOCAB, (BATCH,), device="cuda",
                                     generator=g)
        choice = torch.randint(0, 4, (BATCH, SEQ), device="cuda",
                               generator=g)
        for t in range(SEQ):
            tokens[:, t + 1] = successors[tokens[:, t], choice[:, t]]
        yield tokens


def train(attend, steps, seed):
    torch.manual_seed(seed)
    model = Model(attend).cuda().to(torch.bfloat16)
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)
    losses = []
    for tokens in batches(steps, seed + 1):
        logits = model(tokens[:, :-1])
        loss = F.cross_entropy(logits.float().reshape(-1, VOCAB),
                               tokens[:, 1:].reshape(-1))
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    return losses


def smooth(values, window=10):
    return [sum(values[max(0, i - window + 1):i + 1]) /
            len(values[max(0, i - window + 1):i + 1])
            for i in range(len(values))]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=".")
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    sdpa = train(lambda q, k, v: F.scaled_dot_product_attention(
        q, k, v, is_causal=True), args.steps, args.seed)
    ours = train(lambda q, k, v: fa_attention(q, k, v, is_causal=True),
                 args.steps, args.seed)
    os.makedirs(args.out, exist_ok=True)
    with open(os.path.join(args.out, "train_compare.csv"), "w",
              newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["step", "sdpa", "fa_mlir"])
        for i, (a, b) in enumerate(zip(sdpa, ours)):
            writer.writerow([i, f"{a:.5f}", f"{b:.5f}"])
    tail = slice(args.steps - 50, args.steps)
    s_sdpa, s_ours = smooth(sdpa), smooth(ours)
    gap = sum(abs(a - b) for a, b in zip(s_sdpa[tail], s_ours[tail])) / 50
    level = sum(s_sdpa[tail]) / 50
    learned = max(s_sdpa[-1], s_ours[-1]) < 0.6 * math.log(VOCAB)
    ok = gap <= 0.02 * level and learned
    print(f"steps {args.steps}: loss sdpa {sdpa[0]:.3f} -> {s_sdpa[-1]:.3f}, "
          f"fa_mlir {ours[0]:.3f} -> {s_ours[-1]:.3f}; mean |gap| over the "
          f"last 50 steps {gap:.2e} ({100 * gap / level:.3f} % of the loss; "
          f"bound 2 %): {'PASS' if ok else 'FAIL'}")
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        plt.figure(figsize=(6, 4))
        plt.plot(sdpa, label="SDPA", alpha=0.8)
        plt.plot(ours, label="fa_mlir", alpha=0.8)
        plt.axhline(math.log(4), color="gray", linestyle=":",
                    label="ln 4 (the chain's entropy)")
        plt.xlabel("step")
        plt.ylabel("cross-entropy")
        plt.title("2-layer transformer, bf16, causal, D = 64")
        plt.legend()
        plt.tight_layout()
        plt.savefig(os.path.join(args.out, "train_compare.png"), dpi=100)
    except ImportError:
        print("(no matplotlib: no plot)")
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
