"""The prose names things that exist: paths, modules and ``module.attr`` names.

Read: README.md, docs/*.md, and every docstring (``ast``) and comment
(``tokenize``) of the ``.py`` files under ``wincls/``, ``experiments/`` and
``benchmarks/``. Nothing is imported: a module is a file of the tree and its
attributes are the names its top level binds (def, class, assignment, import,
``__all__``, a package's submodules), or the attributes of a class it defines.

Three kinds of name are checked:

(a) Repo paths: a word starting with ``wincls/``, ``docs/``, ``tests/``,
    ``experiments/``, ``benchmarks/`` or ``results/`` (not after ``/``, a word
    character, ``.`` or ``~``, so ``W/config.json``, ``runs/<name>/...``,
    absolute paths and URLs are left alone) must exist. A trailing ``...`` or
    ``/`` is dropped, and ``.py`` may be left out; a word holding ``*``, ``<``, ``{``, ``$`` or ``%``
    (a glob or a template) is skipped. ``model/x.py``, ``train/x.py``,
    ``data/x.py`` and ``sweep/x.py`` are read as paths inside ``wincls/``.
    ``tests/test_x.py::name``: ``name`` (up to a ``::`` or ``[``) must be a
    function or class of that file.
(b) Dotted names starting with ``wincls.``: the longest prefix that is a
    module must be followed by nothing, or by an attribute it has.
(c) In backticks, ``short.attr`` where ``short`` is a module deleted from
    ``wincls/`` (``git log --diff-filter=D``) whose short name no current
    module has (``models``, ``objectives``, ``backprop`` ...) is always a hit;
    ``short.attr`` must name an attribute of module ``short`` where ``short``
    is a ``wincls`` module the file imports by that name, or the short name of
    exactly one module that the file does not bind otherwise (an argument or
    variable of that name; never ``config``, the prose's usual name for a
    ``Config`` value); ``Class.attr`` must name an attribute (or a ``self.x``)
    of ``Class`` where one module alone defines a top-level class of that
    name. A last part that
    is a file suffix (``config.json``) is a file name, not an attribute.

The test fails listing every unresolved name as ``file:line: name``, and says
how many names it checked.
"""

import ast
import io
import re
import subprocess
import tokenize
from functools import cache
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SOURCE_DIRS = ("wincls", "experiments", "benchmarks")
TOP_DIRS = ("wincls", "docs", "tests", "experiments", "benchmarks", "results")
SUBPACKAGES = ("model", "train", "data", "sweep")
SUFFIXES = {"json", "jsonl", "py", "md", "txt", "npz", "npy", "csv", "tsv",
            "gz", "zip", "log", "toml", "cfg", "yaml", "pkl", "png", "svg",
            "html", "lock", "tmp", "bin", "vec", "pt", "msgpack", "conll"}

PATH_RE = re.compile(r"(?<![\w/.~-])((?:%s)/[\w./*<>{}$%%-]*)" % "|".join(
    TOP_DIRS + SUBPACKAGES))
MODULE_RE = re.compile(r"(?<![\w.])wincls(?:\.[A-Za-z_]\w*)+")
TEST_RE = re.compile(r"(?<![\w/.~-])(tests/[\w/.-]+\.py)::(\w+)")
TICKED_RE = re.compile(r"`+([A-Za-z_]\w*(?:\.[A-Za-z_]\w*)+)(?:\([^`]*\))?`+")


def _module_name(path: Path) -> str:
  parts = path.relative_to(ROOT).with_suffix("").parts
  return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


@cache
def _modules() -> dict[str, Path]:
  return {_module_name(p): p for p in sorted((ROOT / "wincls").rglob("*.py"))}


@cache
def _deleted_short_names() -> frozenset[str]:
  out = subprocess.run(
      ["git", "log", "--diff-filter=D", "--name-only", "--format=", "--",
       "wincls"], cwd=ROOT, capture_output=True, text=True, check=True).stdout
  current = {name.rsplit(".", 1)[-1] for name in _modules()}
  deleted = {Path(line).stem for line in out.split() if line.endswith(".py")}
  return frozenset(deleted - current - {"__init__"})


def _bound(body) -> dict[str, ast.AST | None]:
  """Names a module or class body binds, to their class node if a class."""
  names: dict[str, ast.AST | None] = {}
  for node in body:
    if isinstance(node, ast.ClassDef):
      names[node.name] = node
    elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
      names[node.name] = None
    elif isinstance(node, (ast.Import, ast.ImportFrom)):
      for alias in node.names:
        names[(alias.asname or alias.name).split(".")[0]] = None
    elif isinstance(node, (ast.Assign, ast.AnnAssign, ast.AugAssign)):
      targets = node.targets if isinstance(node, ast.Assign) else [node.target]
      for target in targets:
        for sub in ast.walk(target):
          if isinstance(sub, ast.Name):
            names[sub.id] = None
        if getattr(target, "id", None) == "__all__":  # lazy attributes
          names.update({n.value: None for n in ast.walk(node.value)
                        if isinstance(n, ast.Constant)})
    elif isinstance(node, (ast.If, ast.Try, ast.With)):
      for block in ("body", "orelse", "finalbody"):
        names.update(_bound(getattr(node, block, [])))
      for handler in getattr(node, "handlers", []):
        names.update(_bound(handler.body))
  return names


@cache
def _top_level(module: str) -> dict[str, ast.AST | None]:
  path = _modules()[module]
  names = _bound(ast.parse(path.read_text()).body)
  if path.name == "__init__.py":  # submodules are attributes of a package
    names.update({m.rsplit(".", 1)[-1]: None for m in _modules()
                  if m.rsplit(".", 1)[0] == module and m != module})
  return names


def _has_attrs(module: str, attrs: list[str]) -> bool:
  scope, node = _top_level(module), None
  for attr in attrs:
    if attr not in scope:
      return False
    node = scope[attr]
    if node is None:  # a function, value or import: not read further
      return True
    scope = _class_attrs(node)
  return True


def _class_attrs(node: ast.ClassDef) -> dict[str, ast.AST | None]:
  """A class's body names and the ``self.x`` its methods assign."""
  names = _bound(node.body)
  for sub in ast.walk(node):
    if (isinstance(sub, ast.Attribute) and isinstance(sub.ctx, ast.Store)
        and isinstance(sub.value, ast.Name) and sub.value.id == "self"):
      names.setdefault(sub.attr, None)
  return names


@cache
def _unique_classes() -> dict[str, str]:
  """Class name -> module, for a class defined at the top of one module only."""
  seen: dict[str, list[str]] = {}
  for module, path in _modules().items():
    for node in ast.parse(path.read_text()).body:
      if isinstance(node, ast.ClassDef):
        seen.setdefault(node.name, []).append(module)
  return {name: mods[0] for name, mods in seen.items() if len(mods) == 1}


def _resolves(dotted: str) -> bool:
  parts = dotted.split(".")
  for cut in range(len(parts), 0, -1):
    module = ".".join(parts[:cut])
    if module in _modules():
      return _has_attrs(module, parts[cut:])
  return False


def _path_exists(word: str) -> bool:
  word = word.rstrip(".").rstrip("/")
  if word.split("/")[0] in SUBPACKAGES:
    return word.endswith(".py") is False or (ROOT / "wincls" / word).exists()
  return (ROOT / word).exists() or (ROOT / f"{word}.py").exists()


@cache
def _test_names(test_file: str) -> frozenset[str]:
  path = ROOT / test_file
  if not path.exists():
    return frozenset()
  return frozenset(node.name for node in ast.walk(ast.parse(path.read_text()))
                   if isinstance(node, (ast.FunctionDef, ast.ClassDef)))


def _texts(path: Path):
  """(line, text) of the prose in one file: all of a .md, a .py's docs."""
  source = path.read_text()
  if path.suffix == ".md":
    yield from enumerate(source.splitlines(), 1)
    return
  for node in ast.walk(ast.parse(source)):
    if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef,
                         ast.AsyncFunctionDef)):
      doc = ast.get_docstring(node, clean=False)
      if doc is not None:
        first = node.body[0].lineno
        for offset, line in enumerate(doc.splitlines()):
          yield first + offset, line
  for tok in tokenize.generate_tokens(io.StringIO(source).readline):
    if tok.type == tokenize.COMMENT:
      yield tok.start[0], tok.string


def _imported_modules(path: Path) -> dict[str, str]:
  """Short name -> wincls module, as ``short.attr`` in the file's prose reads.

  The modules a .py file imports by name, and every short name that one module
  alone has and the file binds to nothing else (no argument or variable of
  that name; not ``config``, the prose's usual name for a ``Config`` value).
  """
  shorts = [name.rsplit(".", 1)[-1] for name in _modules()]
  out = {short: name for short, name in zip(shorts, _modules())
         if shorts.count(short) == 1 and short != "config"}
  if path.suffix != ".py":
    return out
  tree = ast.parse(path.read_text())
  for node in ast.walk(tree):
    if isinstance(node, ast.arg) or (isinstance(node, ast.Name)
                                     and isinstance(node.ctx, ast.Store)):
      out.pop(getattr(node, "arg", None) or getattr(node, "id", None), None)
  for node in ast.walk(tree):
    if isinstance(node, ast.ImportFrom) and node.module and not node.level:
      for alias in node.names:
        full = f"{node.module}.{alias.name}"
        if full in _modules():
          out[alias.asname or alias.name] = full
    elif isinstance(node, ast.Import):
      for alias in node.names:
        if alias.asname and alias.name in _modules():
          out[alias.asname] = alias.name
  return out


def _files() -> list[Path]:
  files = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
  for top in SOURCE_DIRS:
    files += sorted((ROOT / top).rglob("*.py"))
  return files


def _check(path: Path) -> tuple[int, list[str]]:
  rel = path.relative_to(ROOT) if path.is_relative_to(ROOT) else path
  imported = _imported_modules(path)
  deleted, count, hits = _deleted_short_names(), 0, []
  for line_no, text in _texts(path):
    names = []
    for word in PATH_RE.findall(text):
      if not any(c in word for c in "*<>{}$%"):
        names.append((word, _path_exists(word)))
    for test_file, name in TEST_RE.findall(text):
      names.append((f"{test_file}::{name}", name in _test_names(test_file)))
    for dotted in MODULE_RE.findall(text):
      names.append((dotted, _resolves(dotted)))
    for dotted in TICKED_RE.findall(text):
      short, *attrs = dotted.split(".")
      if attrs[-1] in SUFFIXES:
        continue
      if short in deleted:
        names.append((dotted, False))
      elif short in imported:
        names.append((dotted, _has_attrs(imported[short], attrs)))
      elif short in _unique_classes():
        names.append((dotted, _has_attrs(_unique_classes()[short],
                                         [short, *attrs])))
    count += len(names)
    hits += [f"{rel}:{line_no}: {name}" for name, ok in names if not ok]
  return count, hits


def test_names_in_prose_resolve():
  count, hits = 0, []
  for path in _files():
    n, found = _check(path)
    count, hits = count + n, hits + found
  print(f"names checked: {count}")
  assert count > 300, f"only {count} names found: is the scanner broken?"
  assert not hits, (f"{len(hits)} of {count} names do not resolve:\n"
                    + "\n".join(hits))


def test_the_scanner_sees_each_kind(tmp_path):
  """Each rule finds its name, and a wrong one is a hit (the test can fail)."""
  good = tmp_path / "good.md"
  good.write_text("wincls/train/step.py, ``network.apply``, ``Static.seed_loop``,"
                  " wincls.config.Config, tests/test_names.py::test_the_scanner"
                  "_sees_each_kind, W/config.json, ``vocab.json``\n")
  assert _check(good) == (6, [])  # the test file counts as a path too
  bad = tmp_path / "bad.md"
  bad.write_text("``models.apply`` wincls/nothing.py wincls.config.Nope\n"
                 "``Static.nope`` ``network.nope`` tests/test_names.py::nope\n")
  count, hits = _check(bad)
  assert count == 7 and len(hits) == 6, hits
  assert f"{bad}:1: models.apply" in hits
  assert _path_exists("wincls/train/step.py")
  assert not _path_exists("wincls/train/nothing.py")
  assert _path_exists("results/...") and _path_exists("model/settings.py")
  assert _resolves("wincls.train.sparse") and _resolves("wincls.config.Config")
  assert not _resolves("wincls.models.apply")
  assert not _resolves("wincls.config.NoSuchThing")
  assert {"models", "objectives", "backprop"} <= _deleted_short_names()
  assert "test_names_in_prose_resolve" in _test_names("tests/test_names.py")
  assert PATH_RE.findall("see W/config.json and runs/x/docs/a.md") == []
  assert TICKED_RE.findall("``models.apply`` and `losses.REGISTRY`") == [
      "models.apply", "losses.REGISTRY"]
