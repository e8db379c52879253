"""Data parallelism over devices and hosts with ``jax.sharding``.

A run's *layout* (``Layout``) is a 1-D ``jax.sharding.Mesh`` over devices with
the axis ``"data"`` (``DATA_AXIS``). The training program stays the global-view
program of one device (``step.train_epoch``, the same code): the layout only
adds sharding annotations, and the GSPMD partitioner splits the work and
inserts the collectives (the all-reduce of the gradients):

- the parameters and optimizer state are replicated on every device, or, with
  ``shard_word_table``, the ``[V, E]`` word table (and its optimizer state) is
  split on its rows (``state_shardings``; only when the mesh size divides V,
  since JAX arrays are split evenly);
- the resident training data is replicated (every device holds the windows;
  CoNLL-2003's are ~10 MB), and in every step the permuted row indices of the
  global batch are sharded on the batch axis (``shard_batch``), so each device
  gathers and computes only its slice of every global batch. The permutation
  is the single-device run's, so a sharded run computes what a single-device
  run computes, up to the order of float sums. Seeds vmapped in one program
  (``num_seeds``) keep their leading axis unsharded: each device holds every
  seed's replica and its slice of every seed's batch.

Several processes (hosts) join by ``jax.distributed.initialize`` (``setup``);
the mesh then spans every process's devices. Every process reads the whole
(small) dataset (it needs the vocabulary anyway), each process's devices gather
their slices of the global batches, decisions that read the workdir are made by
process 0 (``run_on_lead``) and broadcast, and only process 0 writes files
(``is_lead``). On CPU, cross-process collectives use gloo
(``jax_cpu_collectives_implementation``). See docs/scaling.md.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from typing import Any, Callable

from absl import logging
import jax
from jax.experimental import multihost_utils
from jax.sharding import AxisType, Mesh, NamedSharding, PartitionSpec as P
import numpy as np

from wincls.train import workdir as workdir_lib

DATA_AXIS = "data"
# State keys whose leaves are the word table or its optimizer state: the
# parameters' ``embed/words`` (and optax's copies of that path), and the
# ``rows`` state of ``embedding_update="sparse"``.
WORD_TABLE_KEYS = ("words", "rows")


@dataclasses.dataclass(frozen=True)
class Layout:
  """Where a run's arrays live (hashable: a static argument of the programs).

  Attributes:
    mesh: a 1-D mesh with the axis ``DATA_AXIS``, the devices of the run.
    shard_word_table: split the ``[V, E]`` word table and its optimizer state
      on the rows over the mesh, instead of replicating them.
  """

  mesh: Mesh
  shard_word_table: bool = False

  @property
  def num_devices(self) -> int:
    return self.mesh.size


# ----------------------------------------------------------------------------
# Processes and meshes.


def initialize(*, coordinator_address: str = "", num_processes: int | None = None,
               process_id: int | None = None) -> None:
  """Joins a multi-process run (``jax.distributed.initialize``).

  Must run before anything touches a JAX backend. Arguments left unset are
  detected from the cluster's environment where JAX supports it (SLURM, Open
  MPI, Cloud TPU, ...). CPU collectives across processes use gloo.

  Args:
    coordinator_address: ``host:port`` of process 0 (its coordinator service).
    num_processes: the number of processes.
    process_id: this process's index in ``[0, num_processes)``.

  Raises:
    ValueError: JAX could not join (e.g. no address given and none detected).
  """
  jax.config.update("jax_cpu_collectives_implementation", "gloo")
  kwargs = {"coordinator_address": coordinator_address or None,
            "num_processes": num_processes, "process_id": process_id}
  try:
    jax.distributed.initialize(**kwargs)
  except (ValueError, RuntimeError) as e:
    given = ", ".join(f"{k}={v!r}" for k, v in kwargs.items() if v is not None)
    raise ValueError(f"jax.distributed.initialize({given}) failed: {e}") from None
  logging.info("Process %d of %d: %d local devices, %d devices in all",
               jax.process_index(), jax.process_count(), jax.local_device_count(),
               jax.device_count())


def make_layout(num_devices: int | None = None, *, shard_word_table: bool = False
                ) -> Layout | None:
  """The layout over ``num_devices`` devices; None for one device in one process.

  Args:
    num_devices: how many devices (the first of ``jax.devices()``); 0 = all;
      None = 1 in a single process, all in a multi-process run.
    shard_word_table: see ``Layout``.

  Raises:
    ValueError: more devices than there are, or a multi-process run asked to
      use fewer than all devices (naming ``--num_devices``).
  """
  available = jax.device_count()
  multi = jax.process_count() > 1
  if num_devices is None:
    num_devices = 0 if multi else 1
  if num_devices < 0:
    raise ValueError(f"--num_devices={num_devices} must be >= 0 (0: all devices)")
  if num_devices == 0:
    num_devices = available
  if num_devices > available:
    raise ValueError(f"--num_devices={num_devices}: only {available} device(s) "
                     f"({', '.join(sorted({d.platform for d in jax.devices()}))}); on "
                     "CPU, XLA_FLAGS=--xla_force_host_platform_device_count=N makes N")
  if multi and num_devices != available:
    raise ValueError(f"--num_devices={num_devices}: a run of {jax.process_count()} "
                     f"processes uses every process's devices ({available}); pass "
                     "--num_devices=0")
  if num_devices == 1 and not multi:
    if shard_word_table:
      logging.warning("--shard_word_table has no effect on one device")
    return None
  mesh = jax.make_mesh((num_devices,), (DATA_AXIS,), axis_types=(AxisType.Auto,),
                       devices=jax.devices()[:num_devices])
  return Layout(mesh=mesh, shard_word_table=shard_word_table)


def setup(*, num_devices: int | None = None, shard_word_table: bool = False,
          distributed: bool = False, coordinator_address: str = "",
          num_processes: int | None = None, process_id: int | None = None
          ) -> Layout | None:
  """Joins the processes (when asked) and returns the run's layout.

  The keyword arguments are the flags of ``wincls.device_flags.define_device_flags``.

  Args:
    num_devices, shard_word_table: see ``make_layout``.
    distributed: join a multi-process run, with the settings below or, where
      they are unset, those detected from the cluster's environment.
    coordinator_address, num_processes, process_id: see ``initialize``;
      setting any of them also joins a multi-process run.
  """
  if distributed or coordinator_address or num_processes is not None or (
      process_id is not None):
    initialize(coordinator_address=coordinator_address, num_processes=num_processes,
               process_id=process_id)
  layout = make_layout(num_devices, shard_word_table=shard_word_table)
  if layout is not None:
    logging.info("Data-parallel over %d devices (%d processes): %s",
                 layout.num_devices, jax.process_count(),
                 [str(d) for d in layout.mesh.devices.flat])
  return layout


def is_lead() -> bool:
  """True in process 0, the one that reads and writes the workdir."""
  return jax.process_index() == 0


def check_batch_size(batch_size: int, layout: Layout | None) -> None:
  """Raises ValueError unless the mesh size divides the global batch size."""
  if layout is not None and batch_size % layout.num_devices:
    raise ValueError(f"--batch_size={batch_size} is not divisible by the "
                     f"{layout.num_devices} devices (--num_devices): each device "
                     "takes an equal slice of every global batch; choose a multiple "
                     f"of {layout.num_devices}")


def word_table_layout(layout: Layout | None, vocab_size: int) -> Layout | None:
  """``layout``, without ``shard_word_table`` if the mesh does not divide V."""
  if layout is None or not layout.shard_word_table:
    return layout
  if vocab_size % layout.num_devices:
    logging.warning("--shard_word_table: the word table's %d rows do not split "
                    "evenly over %d devices; it stays replicated", vocab_size,
                    layout.num_devices)
    return dataclasses.replace(layout, shard_word_table=False)
  return layout


# ----------------------------------------------------------------------------
# Shardings (inside and outside jitted programs).


def replicated(layout: Layout) -> NamedSharding:
  return NamedSharding(layout.mesh, P())


def _path_names(path) -> set[str]:
  names = set()
  for entry in path:
    for attr in ("key", "name"):
      value = getattr(entry, attr, None)
      if isinstance(value, str):
        names.add(value)
  return names


def state_shardings(state: Any, layout: Layout, *, vocab_size: int | None = None,
                    seed_axis: bool = True) -> Any:
  """A ``NamedSharding`` per leaf of a train state (arrays or shape structs).

  Everything is replicated, except with ``layout.shard_word_table`` the leaves
  of the word table and its optimizer state (a ``WORD_TABLE_KEYS`` name in
  their path, ``vocab_size`` rows): split on the rows.

  Args:
    state: the state pytree (leaves with ``.shape``).
    layout: the layout.
    vocab_size: V, the word table's rows (needed with ``shard_word_table``).
    seed_axis: the leaves have a leading seed axis ``[S, ...]``.
  """
  rows_axis = 1 if seed_axis else 0

  def sharding(path, leaf):
    shape = np.shape(leaf)
    if (layout.shard_word_table and len(shape) >= rows_axis + 2
        and shape[rows_axis] == vocab_size
        and _path_names(path) & set(WORD_TABLE_KEYS)):
      return NamedSharding(layout.mesh, P(*([None] * rows_axis), DATA_AXIS))
    return replicated(layout)

  return jax.tree_util.tree_map_with_path(sharding, state)


def constrain_state(state: Any, layout: Layout | None, *, vocab_size: int | None = None
                    ) -> Any:
  """Inside a jitted program: the state with ``state_shardings`` (None: as is)."""
  if layout is None:
    return state
  return jax.lax.with_sharding_constraint(
      state, state_shardings(state, layout, vocab_size=vocab_size))


def shard_batch(tree: Any, layout: Layout | None, *, axis: int = 0) -> Any:
  """Inside a jitted program: every leaf split over the devices on ``axis``.

  Under ``jax.vmap`` the mapped (seed) axis is added unsharded. None: as is.
  """
  if layout is None:
    return tree
  sharding = NamedSharding(layout.mesh, P(*([None] * axis), DATA_AXIS))
  return jax.lax.with_sharding_constraint(tree, jax.tree.map(lambda _: sharding, tree))


def replicate(tree: Any, layout: Layout | None) -> Any:
  """Inside a jitted program: every leaf replicated on the devices. None: as is."""
  if layout is None:
    return tree
  return jax.lax.with_sharding_constraint(
      tree, jax.tree.map(lambda _: replicated(layout), tree))


def put(tree: Any, shardings: Any) -> Any:
  """Global arrays of host values that are the same in every process.

  Args:
    tree: numpy arrays (or arrays that ``np.asarray`` reads).
    shardings: a ``Sharding`` per leaf (a pytree prefix of ``tree``).
  """
  # From numpy: a multi-process device_put takes host values, not arrays
  # committed to a local device.
  return jax.device_put(jax.tree.map(np.asarray, tree), shardings)


def put_replicated(tree: Any, layout: Layout) -> Any:
  """``put`` with every leaf replicated."""
  return put(tree, jax.tree.map(lambda _: replicated(layout), tree))


def to_host(tree: Any) -> Any:
  """Every leaf as a numpy array; arrays split over processes are gathered.

  Collective in a multi-process run: every process must call it.
  """
  def fetch(x):
    if (isinstance(x, jax.Array) and not x.is_fully_addressable
        and not x.is_fully_replicated):
      return np.asarray(multihost_utils.process_allgather(x, tiled=True))
    return np.asarray(x)

  return jax.tree.map(fetch, tree)


# ----------------------------------------------------------------------------
# Agreement between processes.


def broadcast_json(obj: Any) -> Any:
  """Process 0's JSON-serialisable ``obj``, in every process (others pass any)."""
  if jax.process_count() == 1:
    return obj
  data = np.frombuffer(json.dumps(obj).encode("utf-8"), np.uint8) if is_lead() else (
      np.zeros([0], np.uint8))
  size = int(multihost_utils.broadcast_one_to_all(np.int32(data.size)))
  buffer = np.zeros([size], np.uint8)
  if is_lead():
    buffer[:] = data
  buffer = multihost_utils.broadcast_one_to_all(buffer)
  return json.loads(bytes(np.asarray(buffer, np.uint8)).decode("utf-8"))


def broadcast_tree(tree: Any) -> Any:
  """Process 0's pytree of arrays (numpy leaves, same shapes everywhere)."""
  if jax.process_count() == 1:
    return tree
  return multihost_utils.broadcast_one_to_all(tree)


_ERRORS = {cls.__name__: cls for cls in (
    workdir_lib.ConfigMismatchError, ValueError, FileNotFoundError,
    NotADirectoryError, IsADirectoryError, PermissionError, OSError)}


def run_on_lead(fn: Callable[[], Any]) -> Any:
  """``fn()`` run by process 0, its JSON result (or error) given to every process.

  For what reads the workdir (which only process 0 may have): every process
  takes the same branch, and an error raised by process 0 is raised by all.
  """
  if jax.process_count() == 1:
    return fn()
  reply = None
  if is_lead():
    try:
      reply = {"value": fn()}
    except tuple(_ERRORS.values()) as e:
      reply = {"error": type(e).__name__, "message": str(e)}
  reply = broadcast_json(reply)
  if "error" in reply:
    raise _ERRORS.get(reply["error"], ValueError)(reply["message"])
  return reply["value"]


def check_same(value: str, what: str) -> None:
  """Raises ValueError in every process unless ``value`` is the same in all.

  Args:
    value: a string (e.g. a digest) that must agree between processes.
    what: what it describes, for the message.
  """
  if jax.process_count() == 1:
    return
  digest = np.frombuffer(hashlib.sha256(value.encode("utf-8")).digest()[:8], np.uint8)
  digests = np.asarray(multihost_utils.process_allgather(digest))
  differ = [i for i in range(digests.shape[0]) if (digests[i] != digests[0]).any()]
  if differ:
    raise ValueError(f"{what} of processes {differ} differs from process 0's: every "
                     "process must read the same data with the same flags")
