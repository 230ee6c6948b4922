"""Sample data the tests share: what the demo catalogue's licence types require."""

from __future__ import annotations

import uuid
from types import MappingProxyType
from typing import Any

from services.licence_store import demo
from yihao.v1 import common_pb2
from yihao.v1 import licence_store_pb2 as pb

__all__ = ["BUSINESS_FIELDS", "issue_business_licence"]

#: A business licence's (营业执照, demo.BUSINESS_LICENCE) fields, every required one filled.
#: Read-only: build a variant with ``{**BUSINESS_FIELDS, "address": ...}``.
BUSINESS_FIELDS = MappingProxyType(
    {
        "legal_representative": "王芳",
        "company_type": "有限责任公司",
        "registered_capital": "500",
        "established_on": "2020-05-22",
        "address": "福州市鼓楼区五四路1号",
        "business_scope": "软件开发",
    }
)


def issue_business_licence(
    store: Any, holder: str, name: str = "福州示例科技有限公司", number: str = ""
) -> pb.Licence:
    """A business licence issued to ``holder`` through ``store`` (the market regulator's
    LicenceStore stub), under a fresh number unless ``number`` is given."""
    return store.IssueLicence(  # type: ignore[no-any-return]
        pb.IssueLicenceRequest(
            idempotency_key=uuid.uuid4().hex,
            type_code=demo.BUSINESS_LICENCE.type_code,
            licence_number=number or f"350100-2026-{uuid.uuid4().hex[:8]}",
            holder=common_pb2.Holder(number=holder, name=name),
            fields=dict(BUSINESS_FIELDS),
        )
    )
