"""The package's import graph: no cycles, and the model does not read the config.

Every module under ``wincls/`` is parsed with ``ast`` (nothing is imported);
each ``import wincls.x`` / ``from wincls.x import y`` / relative import, at
module level or inside a function, is an edge to the module it names (``y``
itself when ``y`` is a module, else ``x``).
"""

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "wincls"


def _module_name(path: Path) -> str:
  parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
  return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _modules() -> dict[str, Path]:
  return {_module_name(path): path for path in sorted(PACKAGE.rglob("*.py"))}


def _targets(node: ast.AST, name: str, is_package: bool, modules) -> list[str]:
  """The package modules one import statement of module ``name`` names."""
  if isinstance(node, ast.Import):
    return [alias.name for alias in node.names if alias.name in modules]
  if not isinstance(node, ast.ImportFrom):
    return []
  base = node.module or ""
  if node.level:  # relative: from the module's own package upwards
    package = name.split(".") if is_package else name.split(".")[:-1]
    anchor = package[:len(package) - node.level + 1]
    base = ".".join(anchor + ([base] if base else []))
  out = []
  for alias in node.names:
    full = f"{base}.{alias.name}"
    if full in modules:
      out.append(full)
    elif base in modules:
      out.append(base)
  return out


def import_graph() -> dict[str, set[str]]:
  """``{module: {package modules it imports}}`` over every module under wincls/."""
  modules = _modules()
  graph = {}
  for name, path in modules.items():
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    graph[name] = {target for node in ast.walk(tree)
                   for target in _targets(node, name, path.name == "__init__.py", modules)
                   if target != name}
  return graph


def find_cycles(graph: dict[str, set[str]]) -> list[list[str]]:
  """One cycle (``[a, b, ..., a]``) through each strongly connected component."""
  index, low, stack, on_stack, components = {}, {}, [], set(), []

  def visit(node):  # Tarjan; the package is a few dozen modules deep at most
    index[node] = low[node] = len(index)
    stack.append(node)
    on_stack.add(node)
    for target in sorted(graph[node]):
      if target not in index:
        visit(target)
        low[node] = min(low[node], low[target])
      elif target in on_stack:
        low[node] = min(low[node], index[target])
    if low[node] == index[node]:
      component = set()
      while True:
        member = stack.pop()
        on_stack.discard(member)
        component.add(member)
        if member == node:
          break
      if len(component) > 1:
        components.append(component)

  for node in sorted(graph):
    if node not in index:
      visit(node)
  return [_cycle_in(graph, component) for component in components]


def _cycle_in(graph: dict[str, set[str]], component: set[str]) -> list[str]:
  """A path from the component's first module back to itself within it."""
  start = min(component)
  paths = {start: [start]}
  frontier = [start]
  while frontier:  # breadth first: the shortest cycle through ``start``
    node = frontier.pop(0)
    for target in sorted(graph[node] & component):
      if target == start:
        return paths[node] + [start]
      if target not in paths:
        paths[target] = paths[node] + [target]
        frontier.append(target)
  raise AssertionError(f"no cycle through {start}")  # a component always has one


def test_the_graph_reader_sees_every_kind_of_import():
  graph = import_graph()
  assert "wincls.train.loop" in graph and "wincls.data.vectors" in graph
  assert "wincls.data.conll" in graph["wincls.data.text"]  # from wincls.data import conll
  assert find_cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [
      ["a", "b", "c", "a"]]
  assert find_cycles({"a": {"b"}, "b": set()}) == []


def test_relative_and_function_level_imports_are_edges():
  modules = {"wincls", "wincls.data", "wincls.data.conll", "wincls.data.text"}
  tree = ast.parse("def f():\n  from . import conll\n  from ..data.conll import X\n")
  targets = [t for node in ast.walk(tree)
             for t in _targets(node, "wincls.data.text", False, modules)]
  assert targets == ["wincls.data.conll", "wincls.data.conll"]


def test_no_import_cycles():
  cycles = find_cycles(import_graph())
  assert not cycles, "import cycles:\n" + "\n".join(" -> ".join(c) for c in cycles)


def test_the_model_does_not_import_the_config():
  graph = import_graph()
  offenders = sorted(name for name, targets in graph.items()
                     if name.startswith("wincls.model") and "wincls.config" in targets)
  assert not offenders, f"modules under wincls/model/ import wincls.config: {offenders}"


if __name__ == "__main__":
  pytest.main([__file__, "-q"])
