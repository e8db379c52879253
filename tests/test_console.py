"""Tests of wincls/train/console.py and cli's plain log lines."""

import logging

import pytest

from wincls import cli
from wincls.train import console


def _row(seed, f1, loss):
  return {"epoch": 3, "seed": seed, "loss": loss, "dev_precision": 0.5,
          "dev_recall": 0.25, "dev_f1": f1, "dev_accuracy": 0.9,
          "windows_per_sec": 12345.6, "epoch_time": 1.5, "param_norm": 30.0,
          "grad_norm": 1.25}


def test_epoch_line_summarises_the_seeds():
  rows = [_row(0, 0.40, 1.0), _row(1, 0.44, 2.0), _row(2, 0.42, 3.0)]
  line = console.epoch_line(3, 12, rows, num_seeds=3, eta=75.0, eta_of="sweep")
  assert line == ("epoch  3/12: dev F1 42.00 ± 2.00 (40.00–44.00) | loss 2.0000 | "
                  "12346 windows/s | sweep ETA 01:15")
  # Seeds that stopped write no rows; one seed has no spread; no ETA yet.
  line = console.epoch_line(3, 5, rows[:1], num_seeds=3, eta=None)
  assert line == "epoch 3/5: dev F1 40.00 (1 of 3 seeds) | loss 1.0000 | 12346 windows/s"


def test_seed_line_and_run_line():
  assert console.seed_line(_row(1, 0.4, 0.5)) == (
      "epoch 3 seed 1: loss 0.5000 dev P/R/F1 0.5000/0.2500/0.4000 acc 0.9000 | "
      "12346 windows/s, 1.50s/epoch | |params| 30 |grad| 1.25")
  results = {"seeds": [{"seed": 0, "dev_f1": 0.5, "best_epoch": 4},
                       {"seed": 1, "dev_f1": 0.6, "best_epoch": 7}],
             "best_seed_index": 1, "epochs_run": 8, "wall_time": 65.0,
             "diverged_seeds": [0]}
  assert console.run_line("w", results) == (
      "Finished w: dev F1 55.00 ± 7.07 (50.00–60.00) over 2 seeds, best seed 1 "
      "(epoch 7); 8 epochs, 01:05; diverged seeds [0]")
  results["dev_f1_ensemble"] = 0.6251
  assert ", best seed 1 (epoch 7), ensemble 62.51; 8 epochs" in console.run_line("w", results)


@pytest.mark.parametrize("level,expected", [(logging.INFO, "epoch 1/2: ..."),
                                            (logging.WARNING, "warning: epoch 1/2: ...")])
def test_plain_formatter_drops_absls_prefix(level, expected):
  record = logging.LogRecord("absl", level, "loop.py", 1, "%s", ("epoch 1/2: ...",), None)
  assert cli.PlainFormatter().format(record) == expected
