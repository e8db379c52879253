"""absl flags generated from ``wincls.config.Config``: one flag per field.

``define_config_flags()`` defines, for every field of ``Config``, a flag of the
same name with the field's default (or an override) and a short help text;
tuple fields are comma lists (``--features=casing,caps``, ``--features=`` for
none). ``define_preset_flag()`` defines ``--preset``, a measured configuration
(``wincls/presets.py``) that fills the flags not given.
``config_from_flags(FLAGS)`` builds the ``Config`` and validates it.
The flags of where a run computes are in ``wincls.device_flags``.
``run(main)`` runs a script's ``main`` so that a bad flag (also one absl
cannot parse: an unknown flag, a malformed value, a missing required flag),
bad input, a damaged file or an OS error (a read-only directory, a full disk:
``describe_os_error``, naming the path) ends with one line on stderr
(``error: ...``) and exit status 2, not a traceback; Ctrl-C and SIGTERM end
with one line (``interrupted (SIGINT) ...; resume with: <the command>``,
``wincls.interrupts``) and exit status 130 or 143.
"""

from __future__ import annotations

import dataclasses
import errno
import json
import logging as python_logging
import os
import shlex
import sys
from typing import Any, Callable

from absl import app
from absl import flags

from wincls import config as config_lib
from wincls import interrupts
from wincls import plugins
from wincls.model import settings

PLUGINS_HELP = config_lib.PLUGINS_HELP


# Exceptions that mean bad input (flags, files), reported in one line.
USER_ERRORS = (ValueError, FileNotFoundError, NotADirectoryError, IsADirectoryError,
               PermissionError)


def _help(name: str) -> str:
  """A field's help, from its metadata (``settings.setting``); the registries'
  are read when asked (plugins add to them)."""
  return settings.help_of(_FIELDS[name])


_FIELDS = {f.name: f for f in dataclasses.fields(config_lib.Config)}


def refresh_help(flag_values: flags.FlagValues = flags.FLAGS) -> None:
  """Rewrites the help of the flags whose choices are registries (after plugins)."""
  for name, field in _FIELDS.items():
    if field.metadata.get("registry") and name in flag_values:
      flag_values[name].help = _help(name)


def plugins_in_argv(argv: list[str]) -> list[str]:
  """The modules of the last ``--plugins=A,B`` (or ``--plugins A,B``) in ``argv``."""
  found: list[str] = []
  for i, arg in enumerate(argv):
    if arg.startswith("--plugins="):
      found = arg.split("=", 1)[1].split(",")
    elif arg == "--plugins" and i + 1 < len(argv):
      found = argv[i + 1].split(",")
  return [m.strip() for m in found if m.strip()]


def define_config_flags(flag_values: flags.FlagValues = flags.FLAGS, *,
                        defaults: dict[str, Any] | None = None,
                        skip: tuple[str, ...] = ()) -> list[str]:
  """Defines one flag per ``Config`` field; returns the names defined.

  Args:
    flag_values: where to define them.
    defaults: defaults that replace ``Config()``'s for some fields.
    skip: fields to leave out.
  """
  defaults = dict(defaults or {})
  unknown = set(defaults) - {f.name for f in dataclasses.fields(config_lib.Config)}
  if unknown:
    raise ValueError(f"define_config_flags: unknown fields {sorted(unknown)}")
  names = []
  for field in dataclasses.fields(config_lib.Config):
    if field.name in skip:
      continue
    default = defaults.get(field.name, field.default)
    kwargs = dict(name=field.name, default=default, help=_help(field.name),
                  flag_values=flag_values)
    if isinstance(default, bool):
      flags.DEFINE_bool(**kwargs)
    elif isinstance(default, int):
      flags.DEFINE_integer(**kwargs)
    elif isinstance(default, float):
      flags.DEFINE_float(**kwargs)
    elif isinstance(default, tuple):
      kwargs["default"] = ",".join(default)
      flags.DEFINE_list(**kwargs)
    else:
      flags.DEFINE_string(**kwargs)
    names.append(field.name)
  return names


def config_values(flag_values: flags.FlagValues = flags.FLAGS) -> dict[str, Any]:
  """The ``Config`` fields' values from the flags that are defined."""
  values = {}
  for field in dataclasses.fields(config_lib.Config):
    if field.name in flag_values:
      value = flag_values[field.name].value
      if isinstance(field.default, tuple):
        value = tuple(v for v in (value or ()) if v)
      values[field.name] = value
  return values


def check_paths(config: config_lib.Config) -> None:
  """Raises ValueError for data/vectors paths that do not exist (named flag)."""
  for name in ("train_path", "dev_path", "vectors_path"):
    path = getattr(config, name)
    if path and not os.path.isfile(path):
      raise ValueError(f"--{name}={path}: no such file")
  if config.data_dir and not os.path.isdir(config.data_dir):
    raise ValueError(f"--data_dir={config.data_dir}: no such directory")
  from wincls.data import datasets
  if config.dataset not in datasets.DATASETS:
    raise ValueError(f"--dataset={config.dataset!r} is not one of "
                     f"{', '.join(datasets.DATASETS)}")
  if config.dataset == "conll2003" and not (config.train_path and config.dev_path):
    try:
      datasets.conll2003_dir(config.data_dir or None)
    except FileNotFoundError as e:
      raise ValueError(str(e)) from None
  if getattr(config, "embedding_update", "dense") == "sparse":
    from wincls.train import sparse
    sparse.check_supported(config)
  if config.vectors == "file" and not config.vectors_path:
    raise ValueError("--vectors=file needs --vectors_path")


def define_plugins_flag(more: str, flag_values: flags.FlagValues = flags.FLAGS) -> None:
  """``--plugins`` of a script without the Config flags (predict.py, saliency.py,
  benchmarks/gradcheck.py); ``run`` imports them before the flags are parsed.
  Defined once: a second call (two scripts' modules in one process) is a no-op."""
  if "plugins" in flag_values:
    return
  flags.DEFINE_list("plugins", [], f"{PLUGINS_HELP}; {more}", flag_values=flag_values)


def define_preset_flag(flag_values: flags.FlagValues = flags.FLAGS) -> None:
  """Defines ``--preset`` (``presets.PRESETS``), which ``config_from_flags`` reads."""
  from wincls import presets
  flags.DEFINE_enum(
      "preset", "auto", list(presets.CHOICES),
      "Fill every Config flag not given from a measured configuration "
      "(wincls/presets.py): random_init = the defaults with the CRF, the "
      "character CNN and the gazetteer (the best with random word vectors); pretrained = fine-tuned "
      "100-d vectors with the CRF and the character CNN (needs --vectors); auto: pretrained when "
      "--vectors is given, else none (Config's defaults).", flag_values=flag_values)


def config_from_flags(flag_values: flags.FlagValues = flags.FLAGS, *,
                      workdir: str | os.PathLike | None = None,
                      **overrides) -> config_lib.Config:
  """The validated ``Config`` of the flags (with ``overrides`` applied).

  Every field of the preset ``--preset`` picks (``presets.chosen``; without the
  flag, ``auto``: ``presets.PRETRAINED`` when ``--vectors`` is not ``random``)
  that is not given on the command line or in ``overrides`` takes the preset's
  value, except in a ``workdir`` that already holds a run (``config.json``) or
  a sweep (``grid.json``'s base): there it takes the value stored, so that a
  run started before a preset was re-chosen resumes with the same command
  (``stored_settings``).

  Raises:
    app.UsageError: a flag value is invalid (one line naming the flag).
  """
  from wincls import presets
  values = config_values(flag_values)
  values.update(overrides)
  name = flag_values["preset"].value if "preset" in flag_values else "auto"
  filled = {}  # what the preset set, named when an error is about it
  stored = stored_settings(workdir)
  for field, value in presets.chosen(name, values.get("vectors", "random"),
                                     values.get("vectors_path", "")).items():
    given = field in overrides or (field in flag_values and flag_values[field].present)
    if not given:
      if field in stored:  # the run's own value, not today's preset's
        value = tuple(stored[field]) if isinstance(value, tuple) else stored[field]
      values[field] = filled[field] = value
  try:
    config = config_lib.Config(**values).validate()
    check_paths(config)
  except ValueError as e:
    raise app.UsageError(presets.blame(str(e), filled, name)) from None
  return config


def stored_settings(workdir: str | os.PathLike | None) -> dict[str, Any]:
  """The settings an existing run or sweep in ``workdir`` was started with:
  ``config.json``, or ``grid.json``'s ``"base"``; ``{}`` for a new (or
  unreadable) one, whose damage the run's own checks report."""
  if not workdir:
    return {}
  for name, key in (("config.json", None), ("grid.json", "base")):
    try:
      with open(os.path.join(workdir, name), encoding="utf-8") as f:
        stored = json.load(f)
    except (OSError, ValueError):
      continue
    stored = stored.get(key) if key and isinstance(stored, dict) else stored
    return stored if isinstance(stored, dict) else {}
  return {}


def fail(message: str, *, status: int = 2, prefix: str = "error: ") -> None:
  """Prints ``error: message`` (in one line) to stderr and exits with ``status``."""
  interrupts.ignore_signals()  # a signal now would cut the line with a traceback
  print(f"{prefix}{' '.join(str(message).split())}", file=sys.stderr)
  sys.exit(status)


def describe_os_error(error: OSError) -> str:
  """One line for an ``OSError``: the path, what the OS said, and its errno name.

  E.g. ``runs/w/checkpoints/latest: No space left on device (ENOSPC)``.
  """
  name = errno.errorcode.get(error.errno or 0)
  what = error.strerror or str(error)
  if name:
    what += f" ({name})"
  if error.filename is None:
    return what
  target = f" -> {error.filename2}" if error.filename2 is not None else ""
  return f"{error.filename}{target}: {what}"


def _parse_flags(argv: list[str]) -> list[str]:
  """absl's flag parsing, a parse error reported as ``error:`` (exit status 2).

  ``--plugins`` are imported first, so that ``--help`` lists their parts.
  """
  try:
    plugins.load(plugins_in_argv(argv))
  except plugins.PluginError as e:
    fail(str(e))
  refresh_help()
  try:
    return flags.FLAGS(argv)
  except flags.Error as e:
    fail(str(e))


def run(main: Callable[[list[str]], Any]) -> None:
  """``app.run(main)`` with bad input reported in one line (exit status 2).

  A flag absl cannot parse, ``app.UsageError``, the ``USER_ERRORS``
  (ValueError, which includes ``DataError``, ``ConfigMismatchError``,
  ``CheckpointError`` and ``WorkdirLockedError``, FileNotFoundError, ...) and
  any other ``OSError`` (``describe_os_error``) become ``error: <message>`` on
  stderr; Ctrl-C and SIGTERM become ``interrupts.message`` (exit status 130,
  143; ``interrupts.exit_interrupted``: the process ends at once, XLA's threads
  are not torn down); other exceptions keep their traceback. Once ``main``
  returns, or a line is printed, signals are ignored.
  """
  def wrapped(argv):
    python_logging.getLogger("jax").setLevel(python_logging.WARNING)  # backend probing
    interrupts.raise_on_signals()
    try:
      result = main(argv)
      interrupts.check()  # a signal whose exception was swallowed on the way
      interrupts.ignore_signals()  # done: one during the interpreter's exit is ignored
      return result
    except KeyboardInterrupt as e:
      interrupts.exit_interrupted(e, shlex.join(sys.orig_argv))
    except app.UsageError as e:
      fail(str(e))
    except USER_ERRORS as e:
      fail(describe_os_error(e) if isinstance(e, OSError) and e.filename else str(e))
    except OSError as e:
      fail(describe_os_error(e))
    except RuntimeError as e:  # XLA's out of memory (a huge --batch_size)
      if not str(e).startswith("RESOURCE_EXHAUSTED"):
        raise
      fail(f"out of memory: {str(e).splitlines()[0]}; lower --batch_size (or the "
           "model's sizes: --hidden_size, --embed_dim, --window_size)")

  app.run(wrapped, flags_parser=_parse_flags)


PER_SEED_HELP = ("Also print every seed's line per epoch (loss, dev P/R/F1, accuracy, "
                 "windows/s, norms); by default one line per epoch summarises the "
                 "seeds. metrics.jsonl has every seed's figures either way.")


def define_console_flags(flag_values: flags.FlagValues = flags.FLAGS) -> None:
  """Defines ``--per_seed_lines`` (read by ``use_stdout_for_logging``)."""
  flags.DEFINE_bool("per_seed_lines", False, PER_SEED_HELP, flag_values=flag_values)


class PlainFormatter(python_logging.Formatter):
  """Log lines without absl's prefix: the message, ``warning: `` before a warning."""

  def format(self, record: python_logging.LogRecord) -> str:
    message = super().format(record)
    if record.levelno >= python_logging.WARNING:
      return f"{record.levelname.lower()}: {message}"
    return message


def use_stdout_for_logging(flag_values: flags.FlagValues = flags.FLAGS) -> None:
  """Sends absl's log lines to stdout, plainly (the epoch lines are logged).

  The lines go around a progress bar on the terminal
  (``wincls.train.progress.AroundBars``); with ``--per_seed_lines`` (if the
  script defines it) the per-seed lines of ``wincls.train.console`` show too.
  """
  from absl import logging
  from wincls.train import console  # pylint: disable=g-import-not-at-top
  from wincls.train import progress  # pylint: disable=g-import-not-at-top
  logging.set_verbosity(logging.INFO)
  handler = logging.get_absl_handler()
  handler.python_handler.stream = progress.AroundBars()
  handler.python_handler.setFormatter(PlainFormatter())
  if "per_seed_lines" in flag_values and flag_values["per_seed_lines"].value:
    python_logging.getLogger(console.SEED_LOGGER).setLevel(python_logging.DEBUG)
