"""Alias package: the workflows app moved to the top-level `workflows/` package.

django-q2 stores a task's function as a dotted path, so tasks queued before the move (and
`Schedule` rows not yet rewritten by `migrate`) still name `twilioflow.workflows.tasks.*`.
Remove this package once no installation can hold such a task: one release after the move
(migrate rewrites the sweeper schedule; queued tasks drain within minutes).
"""
