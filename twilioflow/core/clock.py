"""Time, in one place, so tests can move it instead of sleeping."""

import time
from datetime import datetime

from django.utils import timezone


def now() -> datetime:
    return timezone.now()


def default_now() -> datetime:
    """Model field default: looks `now` up on each call, so tests can move the clock.
    Public and stable because migrations reference it by path."""
    return now()


def sleep(seconds: float) -> None:
    if seconds > 0:
        time.sleep(seconds)
