"""`python -m trialfinder` is the `trialfinder` command."""

from .cli import main

main(prog_name="trialfinder")
