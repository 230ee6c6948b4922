"""The counter desk's view models (窗口核验): a verification as the handler sees it.

Plain functions, no HTTP and no gRPC calls: they turn a ``Verification`` (and the other
verifier answers) into dicts the templates show — the verdict at a glance (Chinese first,
English beside), then one line per check as OpenCerts shows them (issuer identified,
signature intact, status, validity now, holder number, holder name), the receipt. What the
verdict means for the handler, and what to do when it is not a plain "valid", is decided
here, once.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from clients.calls import LICENCE_ID_PREFIX
from clients.web.viewmodels import Label, china_time, mask_number
from yihao.v1 import verifier_pb2 as vpb
from yihao_shared.errors import FieldViolation

__all__ = [
    "QR_PREFIX",
    "CheckLine",
    "VerdictView",
    "field_errors",
    "holder_rows",
    "licence_input_kind",
    "materials_view",
    "receipt_view",
    "verdict_view",
]

#: A Yihao QR payload (亮证) starts with this; the desk sends it to VerifyDocument.
QR_PREFIX = "YH1."

#: verdict name -> (label, tone). Tones: ok (green), bad (red), unknown (grey: no such
#: licence), cannot (amber, hatched: the desk could not tell — never shown as ok or unknown).
_VERDICTS: dict[int, tuple[str, Label, str]] = {
    vpb.VERDICT_VALID: ("valid", Label("有效", "VALID"), "ok"),
    vpb.VERDICT_EXPIRED: ("expired", Label("已过期", "EXPIRED"), "bad"),
    vpb.VERDICT_NOT_YET_VALID: ("not_yet_valid", Label("未生效", "NOT YET VALID"), "bad"),
    vpb.VERDICT_SUSPENDED: ("suspended", Label("暂扣", "SUSPENDED"), "bad"),
    vpb.VERDICT_REVOKED: ("revoked", Label("吊销", "REVOKED"), "bad"),
    vpb.VERDICT_CANCELLED: ("cancelled", Label("注销", "CANCELLED"), "bad"),
    vpb.VERDICT_NOT_FOUND: ("not_found", Label("查无此证", "NOT FOUND"), "unknown"),
    vpb.VERDICT_CANNOT_CHECK: ("cannot_check", Label("无法核验", "CANNOT CHECK"), "cannot"),
}
_UNSPECIFIED = ("cannot_check", Label("无法核验", "CANNOT CHECK"), "cannot")

_MATCH: dict[int, tuple[str, Label]] = {
    vpb.HOLDER_MATCH_MATCH: ("pass", Label("一致", "matches")),
    vpb.HOLDER_MATCH_MISMATCH: ("fail", Label("不一致", "does not match")),
    vpb.HOLDER_MATCH_NOT_PRESENTED: ("skip", Label("未提供", "not presented")),
    vpb.HOLDER_MATCH_REFUSED: (
        "unknown",
        Label("今日比对次数已用完，未比对", "not compared: today's budget of mismatches is spent"),
    ),
}

#: What to do, by tone (and for CANNOT_CHECK by reason): the handler must never be left to
#: guess whether to accept the licence.
_ADVICE = {
    "ok": Label("可以受理。请在办件中引用下方回执编号。", "Accept; cite the receipt id below."),
    "mismatch": Label(
        "证照有效，但不属于出示者：请勿受理，请核对申请人身份。",
        "The licence is valid but not the applicant's: do not accept it; check who applies.",
    ),
    "bad": Label(
        "证照不可用：请勿据此受理，请申请人向发证机关咨询。",
        "The licence cannot be relied on: do not accept it; the applicant should ask the issuer.",
    ),
    "unknown": Label(
        "查无此证：请核对输入的证照编号；仍查不到时请申请人提供其他证明。",
        "No such licence: check the number you typed; if still not found, ask for other proof.",
    ),
    "cannot": Label(
        "无法核验：系统未能确认该证照，既不能认定有效也不能认定无效。请勿据此受理；请申请人出示原件，"
        "或稍后重试。",
        "Cannot check: the desk could not tell whether this licence is good or bad. Do not accept "
        "it on this basis; ask for the original, or try again later.",
    ),
}
_CANNOT_ADVICE = {
    "QR_EXPIRED": Label(
        "二维码已过期：请申请人在手机上刷新亮证二维码后重新扫描。",
        "The QR code has expired: ask the applicant to refresh it on their phone and scan again.",
    ),
    "QR_SIGNATURE_INVALID": Label(
        "二维码签名无效（可能被篡改或非本系统签发）：请勿受理，请改用证照编号核验或查看原件。",
        "The QR code's signature does not hold (altered, or not ours): do not accept it; verify "
        "by the licence number instead, or see the original.",
    ),
    "SIGNATURE_INVALID": Label(
        "文件签名无效（可能被改动）：请勿受理，请改用证照编号核验。",
        "The document's signature does not hold (it may have been altered): do not accept it; "
        "verify by the licence number instead.",
    ),
    "DOCUMENT_DIFFERS_FROM_STORE": Label(
        "文件与登记内容不符：请勿受理，请改用证照编号核验。",
        "The document differs from what the issuer registered: verify by the licence number.",
    ),
}


@dataclass(frozen=True)
class CheckLine:
    """One check, one line: ``state`` is pass, fail, skip (not asked) or unknown."""

    key: str
    label: Label
    state: str
    detail: str = ""
    note: Label | None = None


@dataclass(frozen=True)
class VerdictView:
    """A verification as the counter desk shows it."""

    key: str
    label: Label
    tone: str  # ok, bad, unknown, cannot, or mismatch (VALID, but not the applicant's)
    headline: Label
    advice: Label
    reason: str
    checks: tuple[CheckLine, ...]
    licence: dict[str, str]
    receipt_id: str
    checked_at: str
    document_authentic: bool


def licence_input_kind(text: str) -> str:
    """What the handler typed or scanned: ``qr`` (a QR payload), ``id`` (an e-licence
    identifier), ``pair`` (TYPE_CODE:NUMBER) or ``bad``."""
    text = text.strip()
    if text.startswith(QR_PREFIX):
        return "qr"
    if text.startswith(LICENCE_ID_PREFIX):
        return "id"
    type_code, sep, number = text.partition(":")
    return "pair" if sep and type_code.strip() and number.strip() else "bad"


def _status_line(v: vpb.Verification, key: str) -> CheckLine:
    label = Label("证照状态", "Status")
    if key in {"suspended", "revoked", "cancelled"}:
        name = _VERDICTS[v.verdict][1]
        detail = f"{name.zh} {name.en}" + (
            f" ({v.status_reason_code})" if v.status_reason_code else ""
        )
        return CheckLine("status", label, "fail", detail)
    if key in {"valid", "expired", "not_yet_valid"}:
        return CheckLine("status", label, "pass", "正常 in force")
    return CheckLine("status", label, "unknown" if key == "cannot_check" else "skip")


def _validity_line(v: vpb.Verification, key: str) -> CheckLine:
    label = Label("当前有效期", "Valid now")
    span = f"{v.valid_from} – {v.valid_until or '长期 no end'}" if v.valid_from else ""
    if key in {"expired", "not_yet_valid"}:
        return CheckLine("validity", label, "fail", span)
    if v.licence_id and "validity_dates" in v.policy.checks and key != "cannot_check":
        return CheckLine("validity", label, "pass", span)
    return CheckLine("validity", label, "unknown" if key == "cannot_check" else "skip", span)


def _match_line(key: str, label: Label, match: int) -> CheckLine:
    state, words = _MATCH.get(match, ("skip", Label("未比对", "not compared")))
    return CheckLine(key, label, state, f"{words.zh} {words.en}")


def _checks(v: vpb.Verification, key: str) -> tuple[CheckLine, ...]:
    found = bool(v.licence_id)
    issuer = CheckLine(
        "issuer",
        Label("颁发机构已确认", "Issuer identified"),
        "pass" if v.issuer_code else ("unknown" if key == "cannot_check" else "skip"),
        f"{v.issuer_name} ({v.issuer_code})" if v.issuer_code else "",
    )
    if v.signature_verified:
        signature = CheckLine(
            "signature", Label("签名完好", "Signature intact"), "pass", v.signature_key_id
        )
    elif found or key == "cannot_check":
        signature = CheckLine("signature", Label("签名完好", "Signature intact"), "fail", v.reason)
    else:
        signature = CheckLine("signature", Label("签名完好", "Signature intact"), "skip")
    return (
        issuer,
        signature,
        _status_line(v, key),
        _validity_line(v, key),
        _match_line("holder_number", Label("持证人号码", "Holder number"), v.holder_number_match),
        _match_line("holder_name", Label("持证人名称", "Holder name"), v.holder_name_match),
    )


def _headline(label: Label, tone: str) -> Label:
    if tone == "mismatch":
        return Label("证照有效，但持证人不一致", "Valid licence, but not the applicant's")
    return label


def verdict_view(v: vpb.Verification, *, typed_licence: str = "") -> VerdictView:
    """The verdict at a glance, each check on its own line, the receipt.

    A VALID licence whose presented holder number or name did not match (or could not be
    matched) is shown as ``mismatch``: red, never green. ``typed_licence`` is what the handler
    typed (shown whole); the holder's own number never appears (the services do not reveal it).
    """
    key, label, tone = _VERDICTS.get(v.verdict, _UNSPECIFIED)
    not_matched = {vpb.HOLDER_MATCH_MISMATCH, vpb.HOLDER_MATCH_REFUSED}
    if tone == "ok" and {v.holder_number_match, v.holder_name_match} & not_matched:
        tone = "mismatch"
    advice = _ADVICE[tone]
    if tone == "cannot":
        advice = _CANNOT_ADVICE.get(v.reason.split(":")[0], advice)
    licence = {
        "typed": typed_licence,
        "type_name": v.type_name,
        "type_code": v.type_code,
        "number": v.licence_number,
        "id": v.licence_id,
        "version": str(v.version) if v.version else "",
    }
    return VerdictView(
        key=key,
        label=label,
        tone=tone,
        headline=_headline(label, tone),
        advice=advice,
        reason=v.reason,
        checks=_checks(v, key),
        licence=licence,
        receipt_id=v.receipt_id,
        checked_at=china_time(v.checked_at.seconds) if v.checked_at.seconds else "",
        document_authentic=v.document_authentic,
    )


def holder_rows(verifications: Iterable[vpb.Verification]) -> list[VerdictView]:
    """An applicant's licences (verify by holder), each as a verdict."""
    return [verdict_view(v) for v in verifications]


def materials_view(check: vpb.MaterialsCheck) -> dict[str, Any]:
    """A service item's materials: which the applicant need not bring (免提交), with the
    covering licence's receipt, and which they must."""
    rows = []
    for m in check.materials:
        covered = m.covered
        v = m.verification
        rows.append(
            {
                "name": m.material.name,
                "covered": covered,
                "reason": m.reason,
                "licence": " · ".join(x for x in (v.type_name, v.licence_number) if x),
                "receipt_id": v.receipt_id,
            }
        )
    return {
        "code": check.item.code,
        "name": check.item.name,
        "rows": rows,
        "exempt": sum(1 for r in rows if r["covered"]),
    }


#: What a receipt says was asked, as the receipt page names it.
_ASKED = {
    "licence_id": Label("电子证照标识", "E-licence id"),
    "type_code": Label("证照类型代码", "Type code"),
    "licence_number": Label("证照编号", "Licence number"),
    "presented_holder_number": Label("出示的证件号码", "Presented number"),
    "presented_holder_name": Label("出示的名称", "Presented name"),
    "as_of": Label("核验时点", "As of"),
    "client_ref": Label("调用方编号", "Client reference"),
    "document_sha256": Label("文件摘要", "Document SHA-256"),
    "key_id": Label("文件签名密钥", "Document key"),
    "qr_key_id": Label("二维码签名密钥", "QR key"),
}
#: A receipt's holder-match values, in words.
_MATCH_WORDS = {
    "match": Label("一致", "matches"),
    "mismatch": Label("不一致", "does not match"),
    "not_presented": Label("未提供", "not presented"),
    "refused": Label("未比对", "not compared"),
}


def _match_words(value: str) -> Label:
    return _MATCH_WORDS.get(value, Label(value or "—", ""))


def _masked_asked(asked: Mapping[str, Any]) -> list[tuple[Label, str]]:
    """What a receipt says was asked; person numbers are masked (the receipt already masks
    them; the page masks again so that nothing typed elsewhere shows whole)."""
    shown = []
    for name, value in sorted(asked.items()):
        text = str(value)
        if name == "presented_holder_number" and "*" not in text:
            text = mask_number(text)
        shown.append((_ASKED.get(name, Label(name, "")), text))
    return shown


def receipt_view(check: vpb.ReceiptCheck) -> dict[str, Any]:
    """A receipt for the printable page: whether it is authentic, who asked, what was
    answered (one row per answer)."""
    r = check.receipt
    try:
        body = json.loads(r.body_json) if r.body_json else {}
    except ValueError:
        body = {}
    answers = []
    for a in body.get("answers", []) if isinstance(body, dict) else []:
        if not isinstance(a, dict):
            continue
        verdict = _verdict_by_value(str(a.get("verdict", "")))
        answers.append(
            {
                "verdict": verdict,
                "reason": str(a.get("reason", "")),
                "licence_id": str(a.get("licence_id", "")),
                "version": a.get("version", 0),
                "number_match": _match_words(str(a.get("holder_number_match", ""))),
                "name_match": _match_words(str(a.get("holder_name_match", ""))),
                "asked": _masked_asked(a.get("asked") or {}),
                "content_sha256": str(a.get("content_sha256", "")),
            }
        )
    return {
        "id": r.receipt_id,
        "authentic": check.authentic,
        "reason": check.reason,
        "issued_at": china_time(r.issued_at.seconds) if r.issued_at.seconds else "",
        "requester": r.requester_code,
        "staff": r.staff,
        "key_id": r.signature.key_id if r.HasField("signature") else "",
        "answers": answers,
    }


def _verdict_by_value(value: str) -> dict[str, str]:
    for key, label, tone in _VERDICTS.values():
        if key == value.lower():
            return {"key": key, "zh": label.zh, "en": label.en, "tone": tone}
    return {"key": value, "zh": value, "en": value, "tone": "cannot"}


#: service field -> the counter form's field (so an error shows beside what was typed).
_FIELDS = {
    "licence": "licence",
    "licence.licence_id": "licence",
    "licence.type_and_number": "licence",
    "licence.type_and_number.type_code": "licence",
    "licence.type_and_number.licence_number": "licence",
    "qr_payload": "licence",
    "presented_holder_number": "holder_number",
    "presented_holder_name": "holder_name",
    "holder_number": "holder_number",
    "applicant_number": "holder_number",
    "purpose": "purpose",
    "case_number": "case_number",
    "item_code": "item",
    "type_codes": "types",
    "signed_document": "document",
    "signed_document.content_json": "document",
}


def field_errors(violations: Iterable[FieldViolation]) -> dict[str, Label]:
    """The services' field violations, placed beside the form's fields (each names the rule;
    one the form has no field for goes under ``_form``)."""
    errors: dict[str, Label] = {}
    for v in violations:
        name = _FIELDS.get(v.field)
        if name is None:
            name = next((f for k, f in _FIELDS.items() if v.field.startswith(k + ".")), "_form")
        rule = f"{v.field}: {v.description}"
        previous = errors.get(name)
        errors[name] = (
            Label(f"{previous.zh}；{rule}", f"{previous.en}; {rule}")
            if previous
            else Label(_RULE_ZH.get(v.reason, "输入有误") + f"：{rule}", rule)
        )
    return errors


_RULE_ZH = {
    "REQUIRED": "必填",
    "CHECK_CHARACTER": "校验位不正确",
    "FORMAT": "格式不正确",
    "TOO_LONG": "过长",
    "PURPOSE_REQUIRED": "须说明查询目的",
    "CASE_NUMBER_REQUIRED": "须填写办件编号",
}
