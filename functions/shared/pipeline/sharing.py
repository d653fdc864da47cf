"""Files of one batch processed side by side in one execution environment, and the /tmp they share.

The processor works on a batch's files in a few threads: they mostly wait on S3 and PostgreSQL. Each
then gets an equal share of the temporary storage (`Destinations.sharing`); a file too large for its
share raises NeedsRoom instead of being quarantined (nothing of it was committed), and is processed
again alone, with all of /tmp, once the others are done (`DiskTurns.alone`). So a file is
quarantined as too_large exactly when it would be if every file were processed one at a time.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager


class NeedsRoom(Exception):
    """A file did not fit its share of /tmp: process it again alone."""


class DiskTurns:
    """Files use /tmp side by side (each within its share), or one file alone uses all of it."""

    def __init__(self) -> None:
        self.changed = threading.Condition()
        self.sharing = 0  # files inside `shared()`
        self.alone_inside = False

    @contextmanager
    def shared(self) -> Iterator[None]:
        with self.changed:
            self.changed.wait_for(lambda: not self.alone_inside)
            self.sharing += 1
        try:
            yield
        finally:
            with self.changed:
                self.sharing -= 1
                self.changed.notify_all()

    @contextmanager
    def alone(self) -> Iterator[None]:
        with self.changed:
            self.changed.wait_for(lambda: not self.alone_inside and self.sharing == 0)
            self.alone_inside = True
        try:
            yield
        finally:
            with self.changed:
                self.alone_inside = False
                self.changed.notify_all()
