"""Ingest: pull studies from the ClinicalTrials.gov API v2 into the database.

`client` (HTTP, paging, retry, rate limit; `readahead` fetches its pages on a thread, two at most) -> `normalize`
(pure: API JSON -> flat record + canonical hash) -> `store` (upsert of the `records` the sync hands it, a version
only when the hash changes, one transaction per run; `bulk` for the big inserts; `pipeline` writes one chunk on a
thread while the next is parsed) -> `sync` (one run of every configured search, full or incremental). Knows nothing
of the stages after it: changes reach them through the sync's change handlers.
"""
