"""Retrying with exponential backoff: one helper for model and ground-truth downloads and for streaming.

``attempts`` counts every try (the first included); the wait before try ``k`` (from 1) is
``backoff * 2**(k - 1)`` seconds; ``deadline`` (seconds) bounds the whole, waits included: no
new try starts once it would end past the deadline.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import TypeVar

log = logging.getLogger(__name__)

T = TypeVar("T")


def retrying(
    action: Callable[[], T],
    what: str,
    *,
    attempts: int,
    backoff: float,
    deadline: float | None = None,
    permanent: Callable[[Exception], bool] = lambda error: False,
    give_up: Callable[[Exception, int, float], Exception] | None = None,
    progressed: Callable[[], bool] | None = None,
    level: int = logging.WARNING,
) -> T:
    """Run ``action`` until it succeeds, at most ``attempts`` times, waiting longer after each failure.

    Parameters
    ----------
    action
        What to do; any exception it raises counts as a failed try.
    what
        For the log: what is being tried (``"reading bytes 0-1023 of URL"``).
    attempts
        Tries in all (at least 1).
    backoff
        Seconds before the second try; doubled before each further one.
    deadline
        Seconds the whole may take; None for no bound.
    permanent
        Failures that no retry can mend (a 404, a refused token): raised at once.
    give_up
        Builds the error raised after the last failure from (last error, tries made, seconds spent);
        default: the last error itself.
    progressed
        Asked after a failed try: whether it made progress that the next try keeps (bytes kept
        of a long download); then the tries and the deadline count afresh from there.
    level
        The log level of each failed try that is retried (``logging.INFO`` where only the outcome matters).
    """
    start = time.monotonic()
    attempts = max(1, int(attempts))
    attempt = 0
    while True:
        attempt += 1
        try:
            return action()
        except Exception as error:
            if permanent(error):
                raise
            if progressed is not None and progressed():
                log.warning("%s was cut off (%s: %s); going on from where it stopped", what, type(error).__name__,
                            error)
                start, attempt = time.monotonic(), 0
                continue
            spent = time.monotonic() - start
            wait = backoff * 2 ** (attempt - 1)
            out_of_time = deadline is not None and spent + wait >= deadline
            if attempt == attempts or out_of_time:
                if give_up is None:
                    raise
                raise give_up(error, attempt, spent) from error
            log.log(level, "%s failed (%s: %s); retrying in %.1f s", what, type(error).__name__, error, wait)
            time.sleep(wait)
