"""Django's SQLite backend, with the threads of one process queueing for the write lock in
Python rather than in SQLite's busy handler.

SQLite has one writer. A thread that finds the write lock taken retries on SQLite's busy
handler, which sleeps between tries (1, 2, 5, 10 … up to 100 ms each), so a waiter can sleep
through several short transactions and lose to newcomers each time. Under a webhook storm
with gunicorn's threads that is where the seconds of p99 came from (issue 10), not from
the transactions themselves, which last a few milliseconds. Here a thread takes a
process-wide mutex before `BEGIN IMMEDIATE` and gives it back at COMMIT or ROLLBACK: the
threads of a process then wait their turn and are woken the moment it is free, and only one
thread per process contends with other processes through SQLite's own lock.

The mutex is held exactly while this connection holds SQLite's write lock, so nothing can
wait on it that would not have waited on SQLite anyway; it is taken with the same timeout as
the busy timeout, after which SQLite's own handler decides as before. Not a lock server:
other processes (qcluster workers, commands) still meet on SQLite's lock.
"""

from __future__ import annotations

import os
import threading

from django.db.backends.sqlite3 import base

_writer = threading.Lock()


def _fresh_lock_after_fork() -> None:
    # A child forked while a parent thread held the mutex would inherit it held.
    global _writer
    _writer = threading.Lock()


os.register_at_fork(after_in_child=_fresh_lock_after_fork)


class DatabaseWrapper(base.DatabaseWrapper):
    _holds_writer = False

    def _start_transaction_under_autocommit(self) -> None:
        timeout = float(self.settings_dict.get("OPTIONS", {}).get("timeout", 5))
        self._holds_writer = _writer.acquire(timeout=timeout)
        try:
            super()._start_transaction_under_autocommit()  # type: ignore[misc]  # Django's, absent from django-stubs
        except BaseException:
            self._release_writer()
            raise

    def _release_writer(self) -> None:
        if self._holds_writer:
            self._holds_writer = False
            _writer.release()

    def _commit(self) -> None:
        try:
            super()._commit()  # type: ignore[misc]  # Django's, absent from django-stubs
        finally:
            self._release_writer()

    def _rollback(self) -> None:
        try:
            super()._rollback()  # type: ignore[misc]  # Django's, absent from django-stubs
        finally:
            self._release_writer()

    def _close(self) -> None:
        try:
            super()._close()  # type: ignore[misc]  # Django's, absent from django-stubs
        finally:
            self._release_writer()
