"""The smallest storage quota a repository may have: what ``borg serve`` accepts.

borg 1.2 and 1.4 refuse ``--storage-quota`` below 10M (``parse_storage_quota``: "quota is
too small … At least 10M are required"), and the quota goes on every login's forced
command: a smaller one makes every login to the repository fail, ``borg init`` included.
Decimal units, as borg counts them. Kept apart from the size parser on purpose: this is
borg's rule about a quota, not a rule about writing sizes.
"""

from __future__ import annotations

from borghive.errors import InvalidInputError
from borghive.rules.quantities import format_size, parse_size

MIN_STORAGE_QUOTA = 10 * 10**6  # borg's parse_file_size("10M")
MIN_STORAGE_QUOTA_TEXT = "10M"


def quota_problem(quota: int) -> str | None:
    """Why borg serve would refuse ``quota`` bytes as ``--storage-quota``, or None."""
    if quota < MIN_STORAGE_QUOTA:
        return (
            f"borg serve refuses a storage quota below {MIN_STORAGE_QUOTA_TEXT} "
            f"({MIN_STORAGE_QUOTA} bytes), so every login to the repository would fail"
        )
    return None


def shown_quota(quota: int) -> str:
    """``quota`` as people write it (``9.9M``), or in bytes where that would round it
    (``9999999 bytes``, not ``10M``)."""
    text = format_size(quota)
    return text if parse_size(text) == quota else f"{quota} bytes"


def check_quota(quota: int) -> int:
    """``quota`` when borg serve accepts it; InvalidInputError naming it otherwise."""
    problem = quota_problem(quota)
    if problem is not None:
        raise InvalidInputError(
            f"invalid quota {shown_quota(quota)}: {problem}",
            hint=f"give at least {MIN_STORAGE_QUOTA_TEXT}",
        )
    return quota
