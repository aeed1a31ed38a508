"""trialfinder: finds and follows WHIM syndrome, CXCR4 and mavorixafor clinical trials from ClinicalTrials.gov.

Data flows one way, and the subpackages are its stages: `ingest` (API -> database) -> `history` (change events)
-> the outputs that read only the database, `site`, `mail` and `export` -> `run` (the pipeline, the scheduler,
status) -> `cli`. Shared ground for all of them: `config`, `db`, `models`, `wording`, `templating`, `addresses`,
`outfile`, `resources`. The layers are an import-linter contract (pyproject.toml, `lint-imports`).
"""

from importlib.metadata import PackageNotFoundError, version

try:  # the one place the version is written is pyproject.toml; the installed metadata carries it
    __version__ = version("trialfinder")
except PackageNotFoundError:  # pragma: no cover - a source tree that was never installed
    __version__ = "0+unknown"
