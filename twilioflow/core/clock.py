"""Time, in one place, so tests can move it instead of sleeping."""

import time
from datetime import datetime

from django.utils import timezone


def now() -> datetime:
    return timezone.now()


def sleep(seconds: float) -> None:
    if seconds > 0:
        time.sleep(seconds)
