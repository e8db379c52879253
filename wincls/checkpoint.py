"""Moved to ``wincls.train.workdir``; this name stays for wincls/sweep.py and
experiments/vectors_study.py until they import the new one."""

from wincls.train.workdir import *  # noqa: F401,F403
