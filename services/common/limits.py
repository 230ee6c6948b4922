"""The message limit every answer is sized against, and fitting list pages under it.

gRPC refuses a message over the limit with RESOURCE_EXHAUSTED — for the whole call. So an
answer is never allowed to grow past it: a request's repeats have a maximum chosen from the
worst-case size of one answer item (``VerifyBatch``: see ``services/verifier/batch.py``), and a
list answer stops once its items reach :data:`PAGE_BUDGET_BYTES`, continuing on the next page.
"""

from __future__ import annotations

from collections.abc import Sequence

#: The largest message a Yihao server sends or accepts (gRPC's default, set explicitly).
MAX_MESSAGE_BYTES = 4 * 1024 * 1024

#: The items of one list answer take at most this many bytes (the rest is the envelope's).
PAGE_BUDGET_BYTES = 3 * 1024 * 1024


def fitting(sizes: Sequence[int], budget: int = PAGE_BUDGET_BYTES) -> int:
    """How many of the leading items, of these encoded sizes, one answer holds: as many as
    stay within ``budget`` bytes, and never fewer than one (a single catalogue entry is kept
    under the budget by the catalogue's text maximums)."""
    total = 0
    for count, size in enumerate(sizes):
        total += size + 5  # the repeated field's tag and length prefix, at most
        if total > budget:
            return max(count, 1)
    return len(sizes)
