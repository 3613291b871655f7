"""fa_mlir.torch.attention as a PyTorch custom op (fa_mlir::attention):
torch.compile with fullgraph=True, torch.export, CUDA graph capture, and
torch.library.opcheck of the fake implementation. Skipped without torch,
CUDA or torch.library.custom_op (PyTorch < 2.4)."""

import pytest

torch = pytest.importorskip("torch")
if not torch.cuda.is_available():
    pytest.skip("no CUDA device", allow_module_level=True)
if not hasattr(torch.library, "custom_op"):
    pytest.skip("torch.library.custom_op needs PyTorch 2.4",
                allow_module_level=True)

import fa_mlir.mods  # noqa: E402
from fa_mlir.torch import FlashAttention, attention  # noqa: E402

DEV = "cuda"


def inputs(b=2, hq=4, hkv=2, nq=300, nk=257, d=128, dtype=torch.bfloat16,
           seed=0):
    g = torch.Generator(device=DEV).manual_seed(seed)
    q = torch.randn(b, hq, nq, d, device=DEV, dtype=dtype, generator=g)
    k = torch.randn(b, hkv, nk, d, device=DEV, dtype=dtype, generator=g)
    v = torch.randn(b, hkv, nk, d, device=DEV, dtype=dtype, generator=g)
    return q, k, v


@pytest.fixture(autouse=True)
def fresh_dynamo():
    torch._dynamo.reset()
    yield
    torch._dynamo.reset()


def test_compile_fullgraph_matches_eager():
    q, k, v = inputs()

    def f(q, k, v):
        out, lse = attention(q, k, v, is_causal=True, enable_gqa=True,
                             causal_alignment="bottom_right", scale=0.1,
                             return_lse=True)
        return out * 2, lse

    with torch.no_grad():
        want_out, want_lse = f(q, k, v)
        got_out, got_lse = torch.compile(f, fullgraph=True)(q, k, v)
    # The same kernel runs: bitwise equal.
    assert torch.equal(got_out, want_out)
    assert torch.equal(got_lse, want_lse)


def test_compile_fullgraph_module_and_new_shapes():
    class Block(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.proj = torch.nn.Linear(64, 64, device=DEV,
                                        dtype=torch.float16)
            self.attn = FlashAttention(is_causal=True)

        def forward(self, x):
            b, n, _ = x.shape
            qkv = self.proj(x).view(b, n, 1, 64).transpose(1, 2)
            return self.attn(qkv, qkv, qkv).sum(dim=1)

    model = Block()
    compiled = torch.compile(model, fullgraph=True, dynamic=True)
    with torch.no_grad():
        for n in (100, 333):
            x = torch.randn(3, n, 64, device=DEV, dtype=torch.float16)
            # Inductor may compute the projection differently.
            torch.testing.assert_close(compiled(x), model(x), atol=2e-2,
                                       rtol=2e-2)


def test_compile_mods_match_eager():
    # The mods are traced outside the graph; the op takes their regions
    # as text and the captured slopes as a tensor argument.
    q, k, v = inputs(hq=4, hkv=4)
    slopes = torch.tensor([0.5, 0.25, 0.125, 0.0625], device=DEV)

    def f(q, k, v):
        return attention(q, k, v, score_mod=fa_mlir.mods.alibi(slopes))

    with torch.no_grad():
        want = f(q, k, v)
        got = torch.compile(f)(q, k, v)
    assert torch.equal(got, want)


def test_export_runs_the_op():
    class Attn(torch.nn.Module):
        def forward(self, q, k, v):
            return attention(q, k, v, is_causal=True, enable_gqa=True)

    q, k, v = inputs()
    with torch.no_grad():
        exported = torch.export.export(Attn(), (q, k, v))
        assert "fa_mlir.attention" in str(exported.graph)
        assert torch.equal(exported.module()(q, k, v), Attn()(q, k, v))


def test_cuda_graph_replays_with_new_inputs():
    q, k, v = inputs(d=64)
    with torch.no_grad():
        attention(q, k, v, is_causal=True, enable_gqa=True)  # compile, load
        graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(graph):
            out = attention(q, k, v, is_causal=True, enable_gqa=True)
        q2, k2, v2 = inputs(d=64, seed=1)
        q.copy_(q2)
        k.copy_(k2)
        v.copy_(v2)
        graph.replay()
        torch.cuda.synchronize()
        assert torch.equal(out, attention(q2, k2, v2, is_causal=True,
                                          enable_gqa=True))


@pytest.mark.parametrize("return_lse", [False, True])
def test_opcheck(return_lse):
    q, k, v = inputs(nq=65, nk=130, d=64, dtype=torch.float16)
    torch.library.opcheck(
        torch.ops.fa_mlir.attention.default,
        (q, k, v, [], "top_left", None, return_lse, None, False, None),
        test_utils=("test_schema", "test_faketensor"))


def test_bad_arguments_still_raise_before_the_op():
    q, k, v = inputs()
    with pytest.raises(ValueError, match="enable_gqa"):
        attention(q, k, v)
    with pytest.raises(ValueError, match="strategy must be one of"):
        attention(q, k, v, enable_gqa=True, strategy="bogus")
