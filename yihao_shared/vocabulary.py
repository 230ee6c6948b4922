"""Words of the protocol both sides use: the refusal grounds, China's time zone.

The assistance domain refuses only on these grounds; the command line glosses them.
"""

from __future__ import annotations

from datetime import timedelta, timezone

__all__ = ["CHINA_TZ", "REFUSAL_GROUNDS"]

#: China Standard Time (UTC+8, no daylight saving): deadlines and dates are China's.
CHINA_TZ = timezone(timedelta(hours=8), "CST")

#: Legitimate grounds for refusing assistance (其他部门如无涉密等正当理由时，应当予以协助).
REFUSAL_GROUNDS: dict[str, str] = {
    "STATE_SECRET": "涉及国家秘密 (state secret)",
    "COMMERCIAL_SECRET": "涉及商业秘密 (commercial secret)",
    "PERSONAL_PRIVACY": "涉及个人隐私且无法律依据 (personal privacy without legal basis)",
    "NOT_HELD": "本部门未掌握 (not held by this department)",
    "OUTSIDE_COMPETENCE": "超出本部门职权 (outside its competence)",
}
