"""A grid of runs: axes over Config fields or named arms, run names, shards.

A grid is a base ``Config`` and an ordered list of axes ``[(name, values),
...]``; ``make_grid`` expands it into the Cartesian product (first axis
slowest). An axis is one of:

- a **field axis**: ``name`` is a ``Config`` field and ``values`` its values
  (strings from the command line are parsed to the field's type), e.g.
  ``("window", ["average", "concat"])``;
- an **arms axis**: ``values`` is a mapping ``{arm name: {field: value,
  ...}}`` (or a list of ``Arm``): each arm sets several fields at once, e.g.
  ``("setting", {"random": {"vectors": "random"}, "frozen": {"vectors":
  "glove-6b-100d", "freeze_vectors": True}})``. The axis name is a label (any
  name), and an arm's name may be any value (``Arm(0.01, {"train_fraction":
  0.01, "epochs": 375})``).

A run is named after its axis values in axis order, e.g.
``window=concat,loss=max_margin`` or ``setting=frozen``; names and order
depend only on the axes, so a sweep can be split (``shard``: run i goes to
shard ``i % num_shards``) and its pieces collected. Two axes may not set the
same field in one run. ``check_grid_file`` records the grid in
``grid.json`` (created atomically) and refuses a workdir that holds another
one. ``settle_axes`` reconciles a script's axes with the base flags the user
gave (an axis would replace them: never silently).
"""

from __future__ import annotations

import dataclasses
import itertools
import json
import os
import re
import tempfile
from pathlib import Path
from typing import Any, Mapping, Sequence

from wincls.train import workdir as workdir_lib
from wincls import config as config_lib

# A sweep's workdir: grid.json, results.jsonl and runs/<name>/ per run.
GRID_FILE = workdir_lib.SWEEP_GRID_FILE
RESULTS_FILE = "results.jsonl"
RUNS_DIR = "runs"

Axes = Sequence[tuple[str, Any]]


@dataclasses.dataclass(frozen=True)
class Arm:
  """A named value of an axis that sets one or more ``Config`` fields.

  Attributes:
    name: the axis value shown in run names, result rows and tables.
    overrides: ``{field: value}`` set by this arm.
  """

  name: Any
  overrides: Mapping[str, Any]


@dataclasses.dataclass(frozen=True)
class Axis:
  """One normalised axis: its values and the fields each value sets.

  Attributes:
    name: the axis name (a ``Config`` field for a field axis).
    values: the values in order (parsed field values or arm names).
    overrides: per value, ``{field: value}`` that it sets.
    is_field: a field axis (each value sets the field ``name`` only).
  """

  name: str
  values: tuple[Any, ...]
  overrides: tuple[Mapping[str, Any], ...]
  is_field: bool


@dataclasses.dataclass(frozen=True)
class Run:
  """One configuration of a grid.

  Attributes:
    index: position in the grid's order.
    name: stable name from the axis values (``axis=value`` joined by commas).
    values: ``((axis, value), ...)`` in axis order.
    overrides: ``((field, value), ...)``: the ``Config`` fields the axes set
      (for a grid of field axes, the same as ``values``).
    config: the base config with the overrides.
  """

  index: int
  name: str
  values: tuple[tuple[str, Any], ...]
  overrides: tuple[tuple[str, Any], ...]
  config: config_lib.Config


def _field(name: str, what: str = "axis") -> dataclasses.Field:
  for field in dataclasses.fields(config_lib.Config):
    if field.name == name:
      return field
  names = ", ".join(f.name for f in dataclasses.fields(config_lib.Config))
  raise ValueError(f"{what} {name!r} is not a Config field; expected one of {names}")


def parse_value(name: str, text: Any) -> Any:
  """A string from the command line as the type of ``Config.<name>``."""
  default = _field(name).default
  if not isinstance(text, str):
    return text
  text = text.strip()
  try:
    if isinstance(default, bool):
      lowered = text.lower()
      if lowered in ("true", "1", "yes"):
        return True
      if lowered in ("false", "0", "no"):
        return False
      raise ValueError
    if isinstance(default, int):
      return int(text)
    if isinstance(default, float):
      return float(text)
  except ValueError:
    raise ValueError(f"axis {name}: {text!r} is not a {type(default).__name__}") from None
  if isinstance(default, tuple):
    raise ValueError(f"axis {name}: tuple-valued fields cannot be swept")
  return text


def format_value(value: Any) -> str:
  """A value as it appears in run names and tables (``true``, ``0.01``, ...)."""
  if isinstance(value, bool):
    return "true" if value else "false"
  if isinstance(value, float):
    return repr(value)
  return str(value)


def make_axis(name: str, values: Any) -> Axis:
  """Normalises one ``(name, values)`` pair (see the module docstring).

  Raises:
    ValueError: an empty axis, a repeated value, a field that is not a
      ``Config`` field, or a value of the wrong type.
  """
  if isinstance(values, Axis):
    return values
  if isinstance(values, Mapping):
    values = [Arm(arm, overrides) for arm, overrides in values.items()]
  values = list(values)
  if not values:
    raise ValueError(f"axis {name} has no values")
  is_field = not any(isinstance(v, Arm) for v in values)
  labels, overrides = [], []
  for value in values:
    if isinstance(value, Arm):
      for field in value.overrides:
        _field(field, what=f"arm {format_value(value.name)} of axis {name}: field")
      labels.append(value.name)
      overrides.append({k: parse_value(k, v) for k, v in value.overrides.items()})
    else:
      value = parse_value(name, value)
      labels.append(value)
      overrides.append({name: value})
  if len(set(map(format_value, labels))) != len(labels):
    raise ValueError(f"axis {name} repeats a value: {labels}")
  return Axis(name=name, values=tuple(labels), overrides=tuple(overrides),
              is_field=is_field)


def make_axes(axes: Axes | Sequence[Axis]) -> list[Axis]:
  """Every axis normalised (``Axis`` objects pass through).

  Raises:
    ValueError: a repeated axis name, or a bad axis (see ``make_axis``).
  """
  axes = [a if isinstance(a, Axis) else make_axis(*a) for a in axes]
  names = [a.name for a in axes]
  if len(set(names)) != len(names):
    raise ValueError(f"axes repeat a field: {names}")
  return axes


def run_name(values: Sequence[tuple[str, Any]]) -> str:
  """``axis=value`` pairs joined by commas, safe as a directory name."""
  parts = []
  for name, value in values:
    text = re.sub(r"[^A-Za-z0-9._+-]", "-", format_value(value))
    parts.append(f"{name}={text}")
  return ",".join(parts) or "base"


def make_grid(base: config_lib.Config, axes: Axes) -> list[Run]:
  """The runs of the grid, in order (the first axis varies slowest).

  Raises:
    ValueError: a bad axis (see ``make_axis``), two axes setting one field,
      or a combination that ``Config.validate`` rejects (naming the run).
  """
  axes = make_axes(axes)
  runs = []
  choices = [range(len(axis.values)) for axis in axes]
  for index, combo in enumerate(itertools.product(*choices)):
    values = tuple((axis.name, axis.values[i]) for axis, i in zip(axes, combo))
    name = run_name(values)
    overrides, setter = {}, {}
    for axis, i in zip(axes, combo):
      for field, value in axis.overrides[i].items():
        if field in overrides:
          raise ValueError(f"run {name}: axes {setter[field]} and {axis.name} both "
                           f"set {field}")
        overrides[field], setter[field] = value, axis.name
    try:
      config = dataclasses.replace(base, **overrides).validate()
    except ValueError as e:
      raise ValueError(f"run {name}: {e}") from None
    runs.append(Run(index=index, name=name, values=values,
                    overrides=tuple(overrides.items()), config=config))
  if len({r.name for r in runs}) != len(runs):
    raise ValueError("two runs of the grid have the same name; use values that "
                     "differ after replacing characters outside [A-Za-z0-9._+-]")
  return runs


def shard(runs: Sequence[Run], *, shard_index: int, num_shards: int) -> list[Run]:
  """The runs of one shard: every ``num_shards``-th run from ``shard_index``."""
  if num_shards < 1 or not 0 <= shard_index < num_shards:
    raise ValueError(f"--shard_index={shard_index} must be in [0, --num_shards="
                     f"{num_shards})")
  return list(runs[shard_index::num_shards])


def row_key(row: Mapping[str, Any]) -> tuple[str, int]:
  """``(run, seed)``: a result row's identity."""
  return row["run"], int(row["seed"])


def order_rows(rows: Sequence[Mapping[str, Any]],
               runs: Sequence[Run]) -> list[dict[str, Any]]:
  """Rows deduplicated by (run, seed) and sorted in grid order, then by seed.

  Raises:
    ValueError: a row of a run that is not in ``runs``.
  """
  index = {r.name: r.index for r in runs}
  unique = {}
  for row in rows:
    if row["run"] not in index:
      raise ValueError(f"row of run {row['run']!r} is not in this grid")
    unique.setdefault(row_key(row), row)
  return sorted(unique.values(), key=lambda r: (index[r["run"]], int(r["seed"])))


def _jsonable(value: Any) -> Any:
  """``value`` as it reads back from JSON (tuples become lists)."""
  return json.loads(json.dumps(value))


def describe(base: config_lib.Config, runs: Sequence[Run], axes: Axes) -> dict[str, Any]:
  """What ``grid.json`` holds: the base config, the axes and the run names.

  A field axis is ``[name, [value, ...]]`` (values as in run names); an arms
  axis is ``[name, [{"name": ..., "overrides": {...}}, ...]]``.
  """
  described = []
  for axis in make_axes(axes):
    if axis.is_field:
      described.append([axis.name, [format_value(v) for v in axis.values]])
    else:
      described.append([axis.name, [
          {"name": format_value(v), "overrides": _jsonable(dict(o))}
          for v, o in zip(axis.values, axis.overrides)]])
  return {"base": workdir_lib.config_dict(base), "axes": described,
          "runs": [r.name for r in runs]}


def _create(path: Path, text: str) -> bool:
  """Creates ``path`` holding ``text`` unless it exists (then False).

  The text is written to a temporary file that is then linked to ``path``:
  the link fails if ``path`` exists, so of two processes only one creates it,
  and a reader never sees half a file.
  """
  fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
  try:
    with os.fdopen(fd, "w", encoding="utf-8") as f:
      f.write(text)
      f.flush()
      os.fsync(f.fileno())
    os.chmod(tmp, 0o644)
    try:
      os.link(tmp, path)
    except FileExistsError:
      return False
    return True
  finally:
    os.unlink(tmp)


def check_grid_file(workdir: str | os.PathLike, base: config_lib.Config,
                    runs: Sequence[Run], axes: Axes) -> None:
  """Creates ``grid.json``, or checks that the existing one describes this grid.

  The file is created atomically (``_create``): of two sweeps that start
  together on one workdir, one writes it and the other compares with it.

  Raises:
    workdir_lib.ConfigMismatchError: the workdir holds another grid, or a
      training run (its ``config.json``), not a sweep.
  """
  workdir = Path(workdir)
  path = workdir / GRID_FILE
  wanted = describe(base, runs, axes)
  if not path.exists() and (workdir / workdir_lib.CONFIG_FILE).exists():
    raise workdir_lib.ConfigMismatchError(
        f"{workdir} holds a training run ({workdir_lib.CONFIG_FILE}), not a sweep; "
        "use another --workdir")
  if _create(path, workdir_lib.json_dumps(wanted, path, indent=2) + "\n"):
    return
  stored = workdir_lib.read_json(path)
  if isinstance(stored, dict) and isinstance(stored.get("base"), dict):
    stored["base"] = workdir_lib.with_defaults(stored["base"])
  if stored != wanted:
    diffs = [k for k in wanted if stored.get(k) != wanted[k]]
    detail = ""
    if "base" in diffs:
      fields = sorted(k for k in wanted["base"]
                      if stored.get("base", {}).get(k) != wanted["base"][k])
      detail = f" (base fields {fields})"
    raise workdir_lib.ConfigMismatchError(
        f"{path}: the workdir holds a sweep with other {', '.join(diffs)}{detail}; "
        "use a new --workdir, or delete this one to start over")


@dataclasses.dataclass(frozen=True)
class AxisFlag:
  """An axis as a script's flags give it.

  Attributes:
    name: the ``Config`` field it sweeps.
    values: its values, as given.
    flag: the flag that gives it (``--losses``, ``--axis=loss``).
    given: on the command line (False: the script's default axis).
  """

  name: str
  values: Sequence[str]
  flag: str
  given: bool


def settle_axes(axis_flags: Sequence[AxisFlag], given: Mapping[str, str]
                ) -> tuple[list[tuple[str, list[str]]], list[str]]:
  """The axes of a sweep whose base fields ``given`` were set by the user.

  An axis replaces its field in every run, so a base flag of the same field
  would be ignored: a default axis of the script gives way to the flag (it is
  dropped, with a note), and an axis the user gave is an error naming both.

  Args:
    axis_flags: the axes, in order.
    given: ``{field: value}`` of the ``Config`` flags on the command line.

  Returns:
    ``([(name, values), ...], notes)``: the axes kept, and one line per
    dropped axis.

  Raises:
    ValueError: an axis given on the command line sets a field the user also
      gave as a flag.
  """
  axes, notes = [], []
  for axis in axis_flags:
    values = ",".join(axis.values)
    if axis.name not in given:
      axes.append((axis.name, list(axis.values)))
      continue
    value = given[axis.name]
    value = (",".join(map(str, value)) if isinstance(value, (tuple, list))
             else format_value(value))
    if axis.given:
      raise ValueError(f"--{axis.name}={value} is replaced by the sweep's axis "
                       f"{axis.flag}={values}: give {axis.flag}={value} (or drop "
                       f"--{axis.name})")
    notes.append(f"--{axis.name}={value}: the sweep's default axis "
                 f"{axis.flag}={values} is dropped")
  return axes, notes
