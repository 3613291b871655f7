//===- Reference.cpp - The problem, its inputs and the CPU reference ------===//
//
// Part of fa-mlir. See README.md for the project overview.
//
//===----------------------------------------------------------------------===//

#include "Reference.h"

#include <cmath>
#include <limits>
#include <thread>

namespace fa_runner {

namespace {

constexpr uint64_t kGolden = 0x9e3779b97f4a7c15ull;

/// splitmix64's output for the state `z`: the n-th draw of a stream whose
/// state starts at s0 is mix(s0 + (n + 1) * kGolden), so any draw can be
/// computed on its own.
uint64_t mix(uint64_t z) {
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

/// A sum of four 16-bit uniforms (Irwin-Hall, unit variance): close enough
/// to normal for attention inputs.
float normalOf(uint64_t bits) {
  float sum = 0;
  for (int i = 0; i < 4; ++i)
    sum += static_cast<float>((bits >> (16 * i)) & 0xffff);
  return (sum / 65535.0f - 2.0f) * 1.7320508f; // var(sum of 4 U) = 1/3
}

/// Element i of `out` is draw `first + i` of the stream starting at `s0`,
/// times `magnitude`, rounded to the problem's type; the same values
/// whatever the number of threads, which split tensors of hundreds of
/// millions of elements.
void fillNormal(const Problem &p, std::vector<uint16_t> &out, uint64_t s0,
                uint64_t first, float magnitude) {
  int64_t n = static_cast<int64_t>(out.size());
  constexpr int64_t kChunk = int64_t(1) << 20;
  int64_t workers =
      std::min<int64_t>(std::max(1u, std::thread::hardware_concurrency()),
                        (n + kChunk - 1) / kChunk);
  auto fill = [&](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; ++i)
      out[i] =
          p.round(normalOf(mix(s0 + (first + i + 1) * kGolden)) * magnitude);
  };
  if (workers <= 1)
    return fill(0, n);
  std::vector<std::thread> threads;
  int64_t per = (n + workers - 1) / workers;
  for (int64_t w = 0; w < workers; ++w)
    threads.emplace_back(fill, std::min(n, w * per),
                         std::min(n, (w + 1) * per));
  for (std::thread &t : threads)
    t.join();
}

} // namespace

Inputs makeInputs(const Problem &p, uint64_t seed, const std::string &mode) {
  int64_t qElems = p.B * p.Hq * p.Nq * p.D, kElems = p.B * p.Hkv * p.Nk * p.D;
  Inputs in;
  in.q.resize(qElems);
  in.k.resize(kElems);
  in.v.resize(kElems);
  // One splitmix64 stream: Q's draws, then K's, then V's, then those of
  // the dominant mode below (fast enough for tensors of billions of
  // elements, on every core).
  uint64_t start = seed * kGolden + 1;
  float magnitude = mode == "large" ? 8.0f : 1.0f;
  fillNormal(p, in.q, start, 0, magnitude);
  fillNormal(p, in.k, start, qElems, magnitude);
  fillNormal(p, in.v, start, qElems + kElems, 1.0f);
  uint64_t state = start + (qElems + 2 * kElems) * kGolden;
  auto rng = [&]() { return mix(state += kGolden); };
  auto normal = [&]() { return normalOf(rng()); };
  if (mode == "dominant") {
    // Each query row points at one key the causal mask lets it see: one
    // logit per row is far above the rest (mask_mod is not consulted).
    auto qs = p.strides(p.Hq, p.Nq), ks = p.strides(p.Hkv, p.Nk);
    for (int64_t b = 0; b < p.B; ++b)
      for (int64_t h = 0; h < p.Hq; ++h)
        for (int64_t i = 0; i < p.Nq; ++i) {
          int64_t end = p.visibleEnd(i);
          if (end == 0)
            continue;
          int64_t j = static_cast<int64_t>(rng() % end);
          int64_t kvh = h / (p.Hq / p.Hkv);
          for (int64_t d = 0; d < p.D; ++d)
            in.q[p.index(qs, b, h, i, d)] =
                p.round(0.1f * normal() +
                        3.0f * p.load(in.k, p.index(ks, b, kvh, j, d)));
        }
  }
  return in;
}

RowResult evaluateRow(const Problem &p, const Inputs &in, ModEvaluator *mods,
                      int64_t b, int64_t h, int64_t i, int64_t modBatch) {
  int64_t mb = modBatch < 0 ? b : modBatch;
  constexpr double inf = std::numeric_limits<double>::infinity();
  auto qs = p.strides(p.Hq, p.Nq), ks = p.strides(p.Hkv, p.Nk);
  int64_t kvh = h / (p.Hq / p.Hkv);
  int64_t end = p.visibleEnd(i);
  RowResult r{std::vector<double>(p.D, 0.0), -inf,
              std::vector<double>(p.D, 0.0), true, 0};

  // Scores of the kept keys: exact, and as the baseline rounds them.
  std::vector<int64_t> keys;
  std::vector<double> s;
  std::vector<float> sB;
  for (int64_t j = 0; j < end; ++j) {
    if (mods && !mods->keep(mb, h, i, j))
      continue;
    double dot = 0;
    float dotF = 0;
    for (int64_t d = 0; d < p.D; ++d) {
      float qd = p.load(in.q, p.index(qs, b, h, i, d)),
            kd = p.load(in.k, p.index(ks, b, kvh, j, d));
      dot += double(qd) * double(kd);
      dotF += qd * kd;
    }
    double exact = dot * p.scale;
    float rounded =
        p.roundTrip(p.roundTrip(dotF) * static_cast<float>(p.scale));
    if (mods && mods->hasScoreMod()) {
      double modified = mods->modify(exact, mb, h, i, j);
      mods->checkDefined(modified, exact, mb, h, i, j);
      exact = modified;
      rounded =
          p.roundTrip(static_cast<float>(mods->modify(rounded, mb, h, i, j)));
    }
    keys.push_back(j);
    s.push_back(exact);
    sB.push_back(rounded);
  }
  r.kept = static_cast<int64_t>(keys.size());

  // Exact: max, sum and P V in fp64; -inf scores contribute nothing.
  double m = -inf;
  for (double x : s)
    m = std::max(m, x);
  if (m != -inf) {
    r.empty = false;
    double l = 0;
    for (size_t t = 0; t < keys.size(); ++t) {
      double e = std::exp(s[t] - m);
      l += e;
      for (int64_t d = 0; d < p.D; ++d)
        r.out[d] += e * double(p.load(in.v, p.index(ks, b, kvh, keys[t], d)));
    }
    for (double &x : r.out)
      x /= l;
    r.lse = m + std::log(l);
  }

  // Baseline: softmax in fp32, probabilities rounded to the input type.
  float mB = -std::numeric_limits<float>::infinity();
  for (float x : sB)
    mB = std::max(mB, x);
  if (mB != -std::numeric_limits<float>::infinity()) {
    float l = 0;
    for (float &x : sB) {
      x = std::exp(x - mB);
      l += x;
    }
    std::vector<float> acc(p.D, 0.0f);
    for (size_t t = 0; t < keys.size(); ++t) {
      float pj = p.roundTrip(sB[t] / l);
      for (int64_t d = 0; d < p.D; ++d)
        acc[d] += pj * p.load(in.v, p.index(ks, b, kvh, keys[t], d));
    }
    for (int64_t d = 0; d < p.D; ++d)
      r.base[d] = p.roundTrip(acc[d]);
  }
  return r;
}

} // namespace fa_runner
