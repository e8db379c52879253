"""Open registries of named model parts (windows, losses, activations, features).

Each registry maps a flag value to a spec. The package fills them with its own
parts at import; a researcher adds one from any module::

    from wincls.model import windows
    windows.register("maxpool", windows.WindowSpec(...))

and names that module with ``--plugins=MODULE`` so that it is imported before
the flags are checked and before a workdir is resumed or tagged
(``wincls/plugins.py``). Everything that offers the choices (``Config``
validation, flag help, sweep axes, the test grids, the benchmarks) reads the
live registry when it runs, never a copy made at import.
"""

from __future__ import annotations

import sys
from typing import Callable, Generic, Iterator, Mapping, TypeVar

Spec = TypeVar("Spec")
_BY_KIND: dict[str, "Registry"] = {}  # filled as the registries are made


class Registry(Mapping[str, Spec], Generic[Spec]):
  """Name -> spec, changed only through ``register`` (and ``unregister``).

  Attributes:
    kind: what the entries are (``"window"``), for messages.
  """

  def __init__(self, kind: str, entries: Mapping[str, Spec] | None = None, *,
               check: Callable[[str, Spec], None] | None = None):
    self.kind = kind
    _BY_KIND[kind] = self
    self._entries: dict[str, Spec] = {}
    self._modules: dict[str, str] = {}  # name -> the module that registered it
    self._check = None  # the package's own entries are checked by the tests
    for name, spec in (entries or {}).items():
      self.register(name, spec)
    self._check = check

  def register(self, name: str, spec: Spec) -> Spec:
    """Adds ``spec`` as ``name``; returns it.

    Registering the spec a name already holds is a no-op (a module imported
    twice); another spec under a taken name is a ValueError naming both. The
    registry's ``check(name, spec)`` runs first: a spec of the wrong type or
    one whose forward gives the wrong shape or non-finite values on a small
    finite input is refused there, naming the part (TypeError/ValueError),
    instead of failing deep inside a compiled step or as a "divergence".
    """
    if not isinstance(name, str) or not name or name != name.strip() or "," in name:
      raise ValueError(f"{self.kind} name {name!r} must be a non-empty string without "
                       "spaces at its ends or commas (it is a flag value)")
    if self._check is not None:
      self._check(name, spec)
    held = self._entries.get(name)
    if held is not None and held is not spec and held != spec:
      raise ValueError(f"{self.kind} {name!r} is already registered (by "
                       f"{_origin(held)}); choose another name for the one from "
                       f"{_origin(spec)}")
    if held is None:  # the caller's module (``module_of``)
      self._modules[name] = sys._getframe(1).f_globals.get("__name__", "?")  # pylint: disable=protected-access
    self._entries[name] = spec
    return spec

  def unregister(self, name: str) -> None:
    """Removes ``name`` (tests that register a part for their own duration)."""
    del self._entries[name]
    self._modules.pop(name, None)

  def module_of(self, name: str) -> str:
    """The module whose code registered ``name`` (``__name__`` of the caller of
    ``register``: the package's own for its parts), recorded by a run
    (``plugins.part_modules``)."""
    return self._modules[name]

  # ``registry[name] = spec`` is ``register`` (so ``monkeypatch.setitem`` works).
  __setitem__ = register
  __delitem__ = unregister

  def lookup(self, name: str) -> Spec:
    """The spec of ``name``; ValueError naming the registered choices."""
    try:
      return self._entries[name]
    except (KeyError, TypeError):
      raise ValueError(f"{self.kind} {name!r} is not one of "
                       f"{', '.join(self._entries)}") from None

  def help_text(self, skip: tuple[str, ...] = ()) -> str:
    """``name: help; ...`` for a flag's help (``skip``: entries no flag offers)."""
    return "; ".join(f"{name}: {getattr(spec, 'help', '')}"
                     for name, spec in self._entries.items() if name not in skip)

  def __getitem__(self, name: str) -> Spec:
    return self._entries[name]

  def __iter__(self) -> Iterator[str]:
    return iter(self._entries)

  def __len__(self) -> int:
    return len(self._entries)

  def __repr__(self) -> str:
    return f"Registry({self.kind!r}, [{', '.join(self._entries)}])"


def of_kind(kind: str) -> Registry:
  """The registry of ``kind`` (``"feature"``, ``"window"``, ...), for the modules
  below the registries' own (``settings``: a config's feature sizes, a flag's help)."""
  if kind not in _BY_KIND:
    raise KeyError(f"wincls/model/registry.py: no {kind} registry yet (import "
                   "wincls.model, which makes them)")
  return _BY_KIND[kind]


def _origin(spec) -> str:
  """The module that defined a spec's first function, for messages."""
  for value in vars(spec).values() if hasattr(spec, "__dict__") else ():
    module = getattr(value, "__module__", None)
    if module:
      return module
  return type(spec).__module__
