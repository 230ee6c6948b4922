"""What the unit tests of the licence catalogue share: a department code, and the same code
with a wrong check character (the refusal checks are :mod:`tests.common.identifier_helpers`).
"""

from __future__ import annotations

POLICE = "11350100131860916B"
BAD_CHECK = "11350100131860916C"  # POLICE with a wrong MOD 31 check character
