"""The compaction hold: no compaction while a deletion alert is unacknowledged, nor for
``maintenance.delete_hold`` after any deleting transaction, because compaction removes the
segments that ``repo rollback`` needs to undo it (rules in
:mod:`borghive.service.history.deletions`)."""

from __future__ import annotations

import datetime as dt

from borghive.config import Config
from borghive.errors import RefusedError
from borghive.service.history.deletion_load import holds
from borghive.service.history.record import record_history
from borghive.service.maintenance.actions import Target


def refuse_if_deletion_held(config: Config, place: Target, now: dt.datetime) -> None:
    """Read what is new in the repository's history, then raise RefusedError naming the
    transaction, its time and until when, when compaction is held at ``now``."""
    update = record_history(place.repository, place.path)
    if update.problem:
        raise RefusedError(
            f"repository {place.shown}: not compacted: its history could not be read "
            f"({update.problem}), so a deletion compaction would destroy cannot be ruled out"
        )
    hold = holds(config, now, [place.repository.id]).get(place.repository.id)
    if hold is not None:
        raise RefusedError(
            f"repository {place.shown}: not compacted: {hold.reason()}",
            hint="compaction removes what 'borghive repo rollback' needs to undo a deletion",
        )
