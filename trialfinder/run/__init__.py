"""Running the work: one pipeline run, the scheduler, and the status report.

`job` composes the main job's steps (sync with its change events, render, exports, feeds, digests) in one place;
`pipeline` runs steps and records each outcome; `scheduler` runs the job on the [schedule] triggers; `status`
reports runs and counts; `sync` is a sync with change events recorded; `signals` is how commands stop.
"""
