"""The `trialfinder` command line (click): parse arguments, load the config, open the database, call one stage.

`main` holds the group and its global options; each command family has its own module (`sync`/`status` in
`main`, then `pipeline`, `site`, `export`, `digest`, `subscribers`, `web`); `common` has the shared plumbing.
Exit codes: 0 done; 1 the work failed (nothing was changed); 2 bad input or config; 3 another sync is running.
"""

from trialfinder.cli.main import main, run

__all__ = ["main", "run"]
