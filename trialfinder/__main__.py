"""`python -m trialfinder` is the `trialfinder` command."""

from trialfinder.cli import main

main(prog_name="trialfinder")
