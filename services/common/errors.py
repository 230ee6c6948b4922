"""The one error hierarchy: it lives in :mod:`yihao_shared.errors`, which the client ships.

The server names it here, as ever; see that module for the hierarchy.
"""

from __future__ import annotations

from yihao_shared.errors import (
    BY_STATUS as BY_STATUS,
)
from yihao_shared.errors import (
    AlreadyExists as AlreadyExists,
)
from yihao_shared.errors import (
    Conflict as Conflict,
)
from yihao_shared.errors import (
    DeadlineExceeded as DeadlineExceeded,
)
from yihao_shared.errors import (
    FailedPrecondition as FailedPrecondition,
)
from yihao_shared.errors import (
    FieldViolation as FieldViolation,
)
from yihao_shared.errors import (
    Internal as Internal,
)
from yihao_shared.errors import (
    InvalidArgument as InvalidArgument,
)
from yihao_shared.errors import (
    NotFound as NotFound,
)
from yihao_shared.errors import (
    PermissionDenied as PermissionDenied,
)
from yihao_shared.errors import (
    ResourceExhausted as ResourceExhausted,
)
from yihao_shared.errors import (
    Unauthenticated as Unauthenticated,
)
from yihao_shared.errors import (
    Unavailable as Unavailable,
)
from yihao_shared.errors import (
    YihaoError as YihaoError,
)
