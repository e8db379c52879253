"""absl flags of where a run computes, which are not ``Config`` fields.

``define_device_flags()`` defines ``--num_devices``, ``--shard_word_table``
and the multi-process ``--distributed``, ``--coordinator_address``,
``--num_processes``, ``--process_id``. They are not ``Config`` fields, since a
run's config (its ``config.json``) must not depend on the machine;
``device_settings(FLAGS)`` checks them and returns them as the arguments of
``wincls.train.distributed.setup``.
"""

from __future__ import annotations

from typing import Any

from absl import app
from absl import flags

DEVICE_HELP = {
    "num_devices": "Devices to train on, data-parallel: each takes an equal slice of "
                   "every batch (0: all devices; default: 1 in a single process, all "
                   "devices of all processes in a multi-process run). See "
                   "docs/scaling.md.",
    "shard_word_table": "Split the word table (and its optimizer state) on its rows "
                        "over the devices instead of replicating it.",
    "distributed": "Join a multi-process run (jax.distributed.initialize); settings "
                   "not given by --coordinator_address/--num_processes/--process_id "
                   "are detected from the cluster (SLURM, Open MPI, ...).",
    "coordinator_address": "host:port of process 0 in a multi-process run.",
    "num_processes": "Number of processes of a multi-process run.",
    "process_id": "This process's index in [0, --num_processes).",
}


def define_device_flags(flag_values: flags.FlagValues = flags.FLAGS, *,
                        multi_process: bool = True) -> list[str]:
  """Defines the flags of ``DEVICE_HELP`` (``multi_process=False``: the first two).

  Returns:
    The names defined.
  """
  flags.DEFINE_integer("num_devices", None, DEVICE_HELP["num_devices"],
                       flag_values=flag_values)
  flags.DEFINE_bool("shard_word_table", False, DEVICE_HELP["shard_word_table"],
                    flag_values=flag_values)
  names = ["num_devices", "shard_word_table"]
  if multi_process:
    flags.DEFINE_bool("distributed", False, DEVICE_HELP["distributed"],
                      flag_values=flag_values)
    flags.DEFINE_string("coordinator_address", "", DEVICE_HELP["coordinator_address"],
                        flag_values=flag_values)
    flags.DEFINE_integer("num_processes", None, DEVICE_HELP["num_processes"],
                         flag_values=flag_values)
    flags.DEFINE_integer("process_id", None, DEVICE_HELP["process_id"],
                         flag_values=flag_values)
    names += ["distributed", "coordinator_address", "num_processes", "process_id"]
  return names


def device_settings(flag_values: flags.FlagValues = flags.FLAGS) -> dict[str, Any]:
  """The device flags as ``wincls.train.distributed.setup``'s keyword arguments.

  Raises:
    app.UsageError: an invalid value (one line naming the flag).
  """
  settings = {name: flag_values[name].value for name in DEVICE_HELP
              if name in flag_values}
  num_devices = settings.get("num_devices")
  if num_devices is not None and num_devices < 0:
    raise app.UsageError(f"--num_devices={num_devices} must be >= 0 (0: all devices)")
  num_processes = settings.get("num_processes")
  process_id = settings.get("process_id")
  if num_processes is not None and num_processes < 1:
    raise app.UsageError(f"--num_processes={num_processes} must be >= 1")
  if process_id is not None and process_id < 0:
    raise app.UsageError(f"--process_id={process_id} must be >= 0")
  if (num_processes is not None and process_id is not None
      and process_id >= num_processes):
    raise app.UsageError(f"--process_id={process_id} must be in [0, --num_processes="
                         f"{num_processes})")
  address = settings.get("coordinator_address", "")
  if address and not address.rpartition(":")[2].isdigit():
    raise app.UsageError(f"--coordinator_address={address!r}: expected host:port")
  return settings
