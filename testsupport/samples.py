"""Sample data the tests share: what the demo catalogue's licence types require."""

from __future__ import annotations

from types import MappingProxyType

__all__ = ["BUSINESS_FIELDS"]

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
