"""Researcher exports, read from the database only: studies, sites, change events or versions.

`columns` (every column: type, ClinicalTrials.gov field, example; the data dictionary), `rows` (filtered,
streamed rows), `writers` (CSV, JSON Lines, JSON, provenance, whole files) and `site_files` (the site's downloads).
"""
