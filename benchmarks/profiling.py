"""Where one training epoch's time goes: the trainer's compiled epoch, traced by op.

Used by ``benchmarks/epoch_profile.py`` (its command line).

The run is the one ``benchmarks/throughput.py`` times (``wincls_train``: the
executable ``experiments/train.py --dataset=conll2003`` compiles, through
``programs.compiled_epoch``), on CoNLL-2003 train with the default ``Config``
in the shape ``config_name`` (``window``, ``embedding_update`` and
``overrides`` change it as ``train.py``'s flags of those names would). After
``warmup`` epochs, ``repeats`` untraced epochs give ``epoch_s`` (median), then
``traced`` epochs run under ``jax.profiler`` (each op's median time over
them). Every XLA op of those traces (a thunk of the compiled program: a
fusion, a dot, a scatter...) goes to one category by what the optimized HLO
says it computes (``categorize``; the first rule that holds):

* ``matmul``: a dot, also inside a fusion (YNNPACK's);
* ``random bits``: computes the Threefry hash (its xor rounds): the dropout
  masks, word dropout, key splits, the permutation's bits; XLA fuses the hash
  into each consumer of a mask, so the forward and the backward pass each
  compute it;
* ``gathers``: embedding lookups and other gathers;
* ``word table [V, E]``: an op that writes or reads an array of the word
  table's shape (other than by a gather): the zero-filled gradient table, its
  scatter-add, its share of the gradient norm, the optimizer's passes over the
  table (dense Adam: first moments, second moments, parameters), sparse rows'
  scatters;
* ``host callbacks``: custom calls (the permutation's sort on the host);
* ``other``: everything else (the loss, softmax, biases, the backward pass's
  elementwise ops, and the launch cost of each small op).

Ops of one epoch run on up to as many threads as XLA has at once, so their times
add up to more than the epoch; ``epoch_s_share`` splits the untraced epoch in
proportion to op time. Control-flow ops (the scan's ``while``) are containers
and are not counted.
"""

from __future__ import annotations

import collections
import gzip
import json
from pathlib import Path
import re
import statistics
import tempfile
import time

import jax

from benchmarks import peers
from benchmarks import workload
from benchmarks.peers import wincls_train

CATEGORIES = ("matmul", "random bits", "gathers", "word table [V, E]", "host callbacks",
              "other")
CONTAINERS = ("while", "conditional", "call")

_COMPUTATION = re.compile(r"^(?:ENTRY )?%?([\w.\-]+) [(].*[{]\s*$")
_INSTRUCTION = re.compile(r"^\s*(?:ROOT )?%?([\w.\-]+) = (.+?) ([\w\-]+)[(]")
_CALLS = re.compile(r"calls=%?([\w.\-]+)")
_OP_NAME = re.compile(r'op_name="([^"]*)"')


def parse_hlo(hlo_text: str) -> tuple[dict, dict]:
  """``(instructions, computations)`` of an optimized HLO module's text.

  ``instructions[name] = {"shape", "opcode", "operands", "calls", "op_name",
  "computation"}``; ``computations[name]`` is the set of opcodes in that
  computation.
  """
  instructions, computations, current = {}, {}, None
  for line in hlo_text.splitlines():
    match = _COMPUTATION.match(line)
    if match:
      current = match.group(1)
      computations[current] = set()
      continue
    match = _INSTRUCTION.match(line)
    if match and current is not None:
      name, shape, opcode = match.groups()
      computations[current].add(opcode)
      operands = line[match.end():line.find(")", match.end())]
      calls = _CALLS.search(line)
      op_name = _OP_NAME.search(line)
      instructions[name] = {"shape": shape, "opcode": opcode,
                            "operands": re.findall(r"%([\w.\-]+)", operands),
                            "calls": calls.group(1) if calls else None,
                            "op_name": op_name.group(1) if op_name else "",
                            "computation": current}
  return instructions, computations


def _has_dims(shape: str, dims: tuple[int, ...]) -> bool:
  """Whether any array in ``shape`` (``f32[1,17496,50]{...}``) ends in ``dims``."""
  for group in re.findall(r"\[([\d,]*)\]", shape):
    sizes = tuple(int(d) for d in group.split(",") if d)
    if sizes[-len(dims):] == dims:
      return True
  return False


def categorize(instruction: dict, instructions: dict, computations: dict,
               table_dims: tuple[int, int]) -> str:
  """The category (``CATEGORIES``) of one instruction of ``parse_hlo``."""
  opcodes = {instruction["opcode"]} | computations.get(instruction["calls"], set())
  if opcodes & {"dot", "convolution"}:
    return "matmul"
  if "xor" in opcodes:
    return "random bits"
  if "gather" in opcodes:
    return "gathers"
  shapes = [instruction["shape"]] + [instructions[name]["shape"]
                                     for name in instruction["operands"]
                                     if name in instructions]
  if any(_has_dims(shape, table_dims) for shape in shapes):
    return "word table [V, E]"
  if instruction["opcode"] == "custom-call":
    return "host callbacks"
  return "other"


def trace_op_seconds(trace_dir: str | Path) -> collections.Counter:
  """Seconds per event name of the perfetto trace ``jax.profiler`` wrote."""
  files = sorted(Path(trace_dir).rglob("*perfetto_trace.json.gz"))
  if not files:
    raise FileNotFoundError(f"{trace_dir}: no perfetto_trace.json.gz (jax.profiler)")
  with gzip.open(files[-1]) as f:
    events = json.load(f)
  events = events["traceEvents"] if isinstance(events, dict) else events
  seconds = collections.Counter()
  for event in events:
    if event.get("ph") == "X":
      seconds[event["name"]] += event.get("dur", 0) / 1e6
  return seconds


def attribute(op_seconds: collections.Counter, hlo_text: str,
              table_dims: tuple[int, int], epoch_s: float, top: int = 12) -> dict:
  """Op time by category (and the ``top`` ops) of one traced execution."""
  instructions, computations = parse_hlo(hlo_text)
  by_category = {name: 0.0 for name in CATEGORIES}
  ops = []
  for name, seconds in op_seconds.items():
    instruction = instructions.get(name)
    if instruction is None or instruction["opcode"] in CONTAINERS:
      continue
    category = categorize(instruction, instructions, computations, table_dims)
    by_category[category] += seconds
    ops.append({"op": name, "category": category, "op_s": seconds,
                "shape": instruction["shape"], "jax_op": instruction["op_name"]})
  total = sum(by_category.values())
  categories = {
      name: {"op_s": s, "share": s / total if total else 0.0,
             "epoch_s_share": epoch_s * s / total if total else 0.0}
      for name, s in by_category.items()}
  ops.sort(key=lambda op: -op["op_s"])
  return {"op_s_total": total, "categories": categories, "top_ops": ops[:top]}


def build_epoch(*, config_name: str, window: str, embedding_update: str,
                batch_size: int, overrides: dict, data_dir: str | None,
                max_windows: int | None) -> tuple[wincls_train.TrainRunner, peers.Spec]:
  """The trainer's one-seed epoch (``throughput.py``'s runner) and the model's sizes."""
  data, spec = workload.load_data(config_name, data_dir=data_dir,
                                  max_windows=max_windows, overrides=overrides)
  runner = wincls_train.TrainRunner(data, spec, batch_size=batch_size, seed=0,
                                    embedding_update=embedding_update, window=window)
  return runner, spec


def _traced_epoch(run_epoch) -> tuple[float, collections.Counter]:
  """``(seconds, op_seconds)`` of ``run_epoch()`` under ``jax.profiler``."""
  with tempfile.TemporaryDirectory() as trace_dir:
    jax.profiler.start_trace(trace_dir, create_perfetto_trace=True)
    start = time.perf_counter()
    run_epoch()
    seconds = time.perf_counter() - start
    jax.profiler.stop_trace()
    return seconds, trace_op_seconds(trace_dir)


def profile(*, warmup: int, repeats: int, traced: int, top: int, **build) -> dict:
  """The profile's JSON (module docstring) of ``build_epoch(**build)``.

  ``warmup`` untimed epochs, ``repeats`` timed ones (``epoch_s``: their
  median), then ``traced`` traced ones; each op's time is its median over
  those (one slow epoch on a shared machine does not move the split).
  """
  runner, spec = build_epoch(**build)
  for _ in range(warmup):
    runner.run_epoch()
  times = []
  for _ in range(repeats):
    start = time.perf_counter()
    runner.run_epoch()
    times.append(time.perf_counter() - start)
  epoch_s = statistics.median(times)
  traces = [_traced_epoch(runner.run_epoch) for _ in range(traced)]
  names = set().union(*(ops for _, ops in traces))
  op_seconds = {name: statistics.median(ops[name] for _, ops in traces) for name in names}
  result = attribute(op_seconds, runner.compiled.as_text(), (spec.vocab_size, spec.embed_dim),
                     epoch_s, top=top)
  return {"config": build["config_name"], "window": build["window"],
          "embedding_update": build["embedding_update"],
          "batch_size": build["batch_size"], "model_overrides": build["overrides"],
          "steps": runner.steps, "epoch_s": epoch_s, "epoch_s_all": times,
          "traced_epoch_s": statistics.median(s for s, _ in traces),
          "traced_epochs": traced, "vocab_size": spec.vocab_size,
          "embed_dim": spec.embed_dim, **result}


def markdown(result: dict) -> str:
  """The categories as a table (seconds of the untraced epoch, share, per step)."""
  lines = [f"{result['config']} {result['window']} {result['embedding_update']}, batch "
           f"{result['batch_size']}: {result['epoch_s']:.3f} s per epoch "
           f"({result['steps']} steps; traced {result['traced_epoch_s']:.3f} s, op time "
           f"{result['op_s_total']:.3f} s)", "",
           "| category | s of the epoch | share | µs per step |", "|---|---|---|---|"]
  for name, row in result["categories"].items():
    lines.append(f"| {name} | {row['epoch_s_share']:.3f} | {row['share']:.1%} | "
                 f"{1e6 * row['epoch_s_share'] / result['steps']:.0f} |")
  if result["top_ops"]:
    lines += ["", "| op | category | op s | shape | jax op |", "|---|---|---|---|---|"]
    lines += [f"| {op['op']} | {op['category']} | {op['op_s']:.3f} | "
              f"{op['shape'].split('{')[0]} | {op['jax_op'][-60:]} |"
              for op in result["top_ops"]]
  return "\n".join(lines)
