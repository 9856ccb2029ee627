"""`python -m trainer.cli`: the `trainer` command (tests run it this way, in the same environment)."""

from trainer.cli import app

app()
