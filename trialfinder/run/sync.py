"""A sync as users run it: `ingest.sync.run_sync` with the change events recorded in the same transaction.

The ingest stage knows nothing of the history stage; this is where the two are put together, for `trialfinder
sync` and the main job's sync step.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence

from sqlalchemy import Engine

from trialfinder.config import Config
from trialfinder.history.events import record_events
from trialfinder.ingest import sync
from trialfinder.ingest.client import ApiClient

DEFAULT_HANDLERS: tuple[sync.ChangeHandler, ...] = (record_events,)


def run_sync(
    config: Config,
    engine: Engine,
    *,
    full: bool = False,
    progress: bool | None = None,
    client: ApiClient | None = None,
    handlers: Sequence[sync.ChangeHandler] = DEFAULT_HANDLERS,
    stop: threading.Event | None = None,
) -> sync.SyncResult:
    """One sync whose every page's changes become change events (history.events.record_events) inside the run's
    transaction; `handlers` replaces that (e.g. `()` to record none). Raises what `ingest.sync.run_sync` raises."""
    return sync.run_sync(config, engine, full=full, progress=progress, client=client, handlers=handlers, stop=stop)
