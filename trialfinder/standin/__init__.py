"""The stand-in ClinicalTrials.gov API: NOT the real registry. A real HTTP server on 127.0.0.1 (server, http, query)
that follows the official v2 contract and can be switched to fail, serving our own synthetic WHIM/CXCR4 studies
(whim_world.json, written by the project in the real record shape) and a scripted second day of changes (world).

The tests run every sync against it, and `trialfinder demo` shows the product offline with it. Only trialfinder.cli
imports it, and it imports none of the stages (the import-linter contract in pyproject.toml).
"""
