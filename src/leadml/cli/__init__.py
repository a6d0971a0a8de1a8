"""The `leadml` command line: one command per job, clear errors, progress on long work.

`app` is the entry point; each module below adds its commands to it when imported.
"""

from leadml.cli import data, init, log, rules, score, serve, train
from leadml.cli.app import app

__all__ = ["app", "data", "init", "log", "rules", "score", "serve", "train"]
