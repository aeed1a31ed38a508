"""History: what changed between two versions of a study, as change events.

`diff` (pure: two versions -> events, lists compared by what their items are) and `events` (recorded inside the
sync's transaction by a change handler, read back with filters for digests, feeds, the site and exports).
"""
