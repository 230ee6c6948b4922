"""A stated purpose and case number for tests that read a person's data (every such read
must carry both: services.common.purpose)."""

from __future__ import annotations

PURPOSE = "测试核验"
CASE_NUMBER = "TEST-2026-0001"
#: Keyword arguments for a request message or a client call: ``pb.GetLicenceRequest(**WHY, …)``.
WHY: dict[str, str] = {"purpose": PURPOSE, "case_number": CASE_NUMBER}
