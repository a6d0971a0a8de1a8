"""`python -m leadml`: the same command line as `leadml`."""

from leadml.cli import app

app(prog_name="leadml")
