"""trialfinder: finds and follows WHIM syndrome, CXCR4 and mavorixafor clinical trials from ClinicalTrials.gov.

Data flows one way, and the subpackages are its stages: `ingest` (API -> database) -> `history` (change events)
-> the outputs that read only the database, `site`, `mail` and `export` -> `run` (the pipeline, the scheduler,
status) -> `cli`. Shared ground for all of them: `config`, `db`, `models`, `wording`, `templating`, `addresses`,
`outfile`, `resources`. The layers are an import-linter contract (pyproject.toml, `lint-imports`).
"""

# The one place the version is written (pyproject.toml reads it: [tool.setuptools.dynamic]); a literal, not
# importlib.metadata, which costs every command ~20 ms of start-up.
__version__ = "0.1.0"
