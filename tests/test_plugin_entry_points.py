"""Entry points of group ``wincls.plugins``: an installed package's parts with no flag.

A fake distribution (``NAME/parts.py`` and ``NAME-0.1.dist-info`` with its
``entry_points.txt``) is put on ``PYTHONPATH`` of a subprocess, as ``pip
install`` would put it in site-packages; in the current directory it declares
nothing (wincls/plugins.py, ``installed_entry_points``).
"""

import os
from pathlib import Path
import subprocess
import sys

from wincls import plugins

REPO = Path(__file__).resolve().parents[1]
NAME = "wincls_fake_parts"
SOFTSIGN = """\
import jax.numpy as jnp
from wincls.model import layers
layers.register("ep_softsign", layers.Activation(
    forward=lambda z: z / (1 + jnp.abs(z)),
    derivative=lambda z: 1 / (1 + jnp.abs(z)) ** 2, help="z / (1 + |z|)"))
"""


def _distribution(site: Path, parts: str) -> Path:
  """``site`` holding the package and its dist-info declaring ``mine = NAME.parts``."""
  (site / NAME).mkdir(parents=True)
  (site / NAME / "__init__.py").write_text("")
  (site / NAME / "parts.py").write_text(parts)
  info = site / f"{NAME}-0.1.dist-info"
  info.mkdir()
  (info / "METADATA").write_text(
      f"Metadata-Version: 2.1\nName: {NAME.replace('_', '-')}\nVersion: 0.1\n")
  (info / "entry_points.txt").write_text(f"[wincls.plugins]\nmine = {NAME}.parts\n")
  return site


def _python(args, *, cwd, site=None, **env_more):
  env = {k: v for k, v in os.environ.items() if k != plugins.DISABLE_AUTOLOAD}
  env.update(JAX_PLATFORMS="cpu", **env_more)
  if site is not None:
    env["PYTHONPATH"] = os.pathsep.join([str(site), env.get("PYTHONPATH", "")])
  return subprocess.run([sys.executable, *args], cwd=cwd, env=env, capture_output=True,
                        text=True, timeout=300)


def test_an_installed_entry_point_registers_its_parts_with_no_flag(tmp_path):
  site = _distribution(tmp_path / "site", SOFTSIGN)
  done = _python(["-c", "from wincls import config\n"
                  "c = config.Config(activation='ep_softsign').validate()\n"
                  "print(c.plugins, c.activation)"], cwd=tmp_path, site=site)
  assert done.returncode == 0, done.stderr[-2000:]
  assert done.stdout.split() == ["()", "ep_softsign"]


def test_a_failing_entry_point_is_one_line_naming_it_and_can_be_turned_off(tmp_path):
  site = _distribution(tmp_path / "site", "raise ImportError('boom')\n")
  script = [str(REPO / "experiments" / "unknown_words.py"), f"--workdirs={tmp_path}/W"]
  done = _python(script, cwd=tmp_path, site=site)
  assert done.returncode == 2 and done.stderr.strip().splitlines() == [
      f"error: entry point mine = {NAME}.parts (group wincls.plugins) of the installed "
      "distribution wincls-fake-parts 0.1 failed to load: ImportError: boom; fix it, "
      "uninstall it (pip uninstall wincls-fake-parts), or set "
      "WINCLS_DISABLE_PLUGIN_AUTOLOAD=1"], done.stderr[-2000:]
  done = _python(script, cwd=tmp_path, site=site, WINCLS_DISABLE_PLUGIN_AUTOLOAD="1")
  assert done.returncode == 2 and "W/vocab.json" in done.stderr, done.stderr[-2000:]


def test_a_distribution_in_the_current_directory_declares_nothing(tmp_path, monkeypatch):
  """As ``python -m`` (the directory first on sys.path) or ``-c``, a REPL, a
  notebook (``''``): not listed; a directory you named in PYTHONPATH is."""
  marker = tmp_path / "ran"
  _distribution(tmp_path, f"open({str(marker)!r}, 'w').write('ran')\n")
  monkeypatch.chdir(tmp_path)
  monkeypatch.syspath_prepend(str(tmp_path))
  sys.path.insert(0, "")  # restored with the rest by monkeypatch
  monkeypatch.delenv("PYTHONPATH", raising=False)
  assert not [ep for ep, _ in plugins.installed_entry_points() if ep.name == "mine"]
  monkeypatch.setenv("PYTHONPATH", str(tmp_path))
  assert [(ep.value, dist.version) for ep, dist in plugins.installed_entry_points()
          if ep.name == "mine"] == [(f"{NAME}.parts", "0.1")]
  # A real process run from that directory loads no part: nothing ran.
  monkeypatch.delenv("PYTHONPATH")
  done = _python(["-c", "from wincls import config; config.Config().validate()"],
                 cwd=tmp_path)
  assert done.returncode == 0, done.stderr[-2000:]
  assert not marker.exists()
