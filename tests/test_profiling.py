"""benchmarks/profiling.py: a traced execution's op time, by what each op computes."""

from pathlib import Path
import sys
import tempfile

import jax
import jax.numpy as jnp
import pytest

from wincls.data import datasets

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from benchmarks import profiling  # pylint: disable=g-import-not-at-top

V, E = 96, 24  # the "word table" of the small program


def _step(table, ids, key, w):
  """A gather, a dropout mask, a matmul, and an update of the whole table."""
  h = table[ids] @ w                                        # gathers, matmul
  keep = jax.random.bernoulli(key, 0.7, h.shape)            # random bits
  h = jnp.where(keep, h, 0.0)
  return table * 0.9 + jnp.sum(h) * 1e-3, h                 # word table [V, E]


def test_a_traced_program_is_split_by_what_its_ops_compute():
  step = jax.jit(_step)
  args = (jnp.ones((V, E)), jnp.arange(2048) % V, jax.random.key(0), jnp.ones((E, 40)))
  compiled = step.lower(*args).compile()
  jax.block_until_ready(compiled(*args))
  with tempfile.TemporaryDirectory() as trace_dir:
    jax.profiler.start_trace(trace_dir, create_perfetto_trace=True)
    jax.block_until_ready(compiled(*args))
    jax.profiler.stop_trace()
    op_seconds = profiling.trace_op_seconds(trace_dir)
  result = profiling.attribute(op_seconds, compiled.as_text(), (V, E), epoch_s=2.0)
  categories = result["categories"]
  for name in ("matmul", "random bits", "word table [V, E]", "gathers"):
    assert categories[name]["op_s"] > 0, (name, result["top_ops"])
  assert sum(c["op_s"] for c in categories.values()) == pytest.approx(result["op_s_total"])
  assert sum(c["epoch_s_share"] for c in categories.values()) == pytest.approx(2.0)
  assert {op["category"] for op in result["top_ops"]} >= {"matmul", "word table [V, E]"}


def test_categorize_reads_fused_computations_and_shapes():
  hlo = """HloModule m

%fused_dot (p: f32[4,8]) -> f32[4,5] {
  %p = f32[4,8]{1,0} parameter(0)
  ROOT %d = f32[4,5]{1,0} dot(%p, %p), lhs_contracting_dims={1}
}

%fused_adam (a: f32[96,24]) -> f32[1,96,24] {
  %a = f32[96,24]{1,0} parameter(0)
  ROOT %m = f32[1,96,24]{2,1,0} multiply(%a, %a)
}

ENTRY %main (x: f32[4,8]) -> f32[4,5] {
  %x = f32[4,8]{1,0} parameter(0)
  %ynn_fusion.1 = f32[4,5]{1,0} fusion(%x), kind=kCustom, calls=%fused_dot
  %multiply_add_fusion.4 = f32[1,96,24]{2,1,0} fusion(%x), kind=kLoop, calls=%fused_adam, metadata={op_name="jit(f)/add"}
  %wrapped_broadcast = f32[96,25]{1,0} fusion(%x), kind=kLoop, calls=%fused_adam
  %ynn_fusion.4 = f32[1]{0} fusion(%multiply_add_fusion.4), kind=kCustom, calls=%fused_adam
  ROOT %while.2 = f32[4,5]{1,0} while(%x), condition=%c, body=%b
}
"""
  seconds = {"ynn_fusion.1": 0.5, "multiply_add_fusion.4": 0.25, "wrapped_broadcast": 0.125,
             "ynn_fusion.4": 0.0625, "while.2": 9.0, "ThunkExecutor::Execute": 9.0}
  result = profiling.attribute(seconds, hlo, (V, E), epoch_s=1.75)
  categories = {name: c["op_s"] for name, c in result["categories"].items()}
  assert categories["matmul"] == 0.5
  assert categories["word table [V, E]"] == 0.25 + 0.0625  # writes it; reads it
  assert categories["other"] == 0.125  # [96, 25] is not the table
  assert result["op_s_total"] == 0.9375  # the while (a container) and runtime events left out
  assert result["top_ops"][1]["jax_op"] == "jit(f)/add"


def test_the_trainers_epoch_profile_on_conll():
  try:
    datasets.conll2003_dir(None)
  except FileNotFoundError as e:
    pytest.skip(f"CoNLL-2003 not found: {e}")
  result = profiling.profile(
      config_name="cs224n", window="concat", embedding_update="dense", batch_size=64,
      overrides={}, data_dir=None, max_windows=1024, warmup=1, repeats=1, traced=2, top=5)
  assert result["steps"] == 16 and result["vocab_size"] > 10_000 and result["traced_epochs"] == 2
  categories = result["categories"]
  for name in ("matmul", "random bits", "word table [V, E]"):
    assert categories[name]["op_s"] > 0, (name, result["top_ops"])
  assert "| word table [V, E] |" in profiling.markdown(result)
