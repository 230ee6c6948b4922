"""``yihao`` commands for counter handlers: verify, receipts, documents, materials.

``yihao verify`` exits 0 when the verdict is VALID and whatever holder number or name was
presented matched, 3 for any other verdict (the server answered, the licence is not good) and
4 when the licence is VALID but a presented holder number or name did not match or could not
be matched (the licence is good, but not shown to be this applicant's), so scripts can branch
on it; errors keep the usual 1/2.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import UTC
from pathlib import Path
from typing import Any

from google.protobuf import json_format
from google.protobuf.timestamp_pb2 import Timestamp

from clients import render
from clients.client import licence_ref
from clients.commands import Context, SetupError, beijing_instant, server_part, why
from yihao.v1 import verifier_pb2 as vpb
from yihao_shared.errors import InvalidArgument

NOT_VALID_EXIT = 3
#: VALID, but a presented holder number or name was not matched (MISMATCH or REFUSED).
HOLDER_NOT_MATCHED_EXIT = 4
_MATCHED_OR_ABSENT = (vpb.HOLDER_MATCH_MATCH, vpb.HOLDER_MATCH_NOT_PRESENTED)
VERDICT_GLOSS = {
    "valid": "有效",
    "expired": "已过期",
    "not_yet_valid": "未生效",
    "suspended": "暂扣",
    "revoked": "吊销",
    "cancelled": "注销",
    "not_found": "查无此证",
    "cannot_check": "无法核验",
}
MATCH_GLOSS = {"match": "一致", "mismatch": "不一致", "not_presented": "未提供"}


def _verdict(value: int) -> str:
    name = render.enum_name(vpb.Verdict, value)
    return f"{name.upper()} {VERDICT_GLOSS.get(name, '')}".strip()


def _match(value: int) -> str:
    name = render.enum_name(vpb.HolderMatch, value)
    return f"{name.upper()} {MATCH_GLOSS.get(name, '')}".strip()


def verification_card(v: vpb.Verification) -> str:
    """A verification at a glance: verdict first, then what it rests on, then the receipt."""
    until = v.valid_until or "长期 (no end)"
    pairs = [
        ("核验结论 verdict", f"{_verdict(v.verdict)}   ({v.reason})"),
        ("号码 holder number", _match(v.holder_number_match)),
        ("名称 holder name", _match(v.holder_name_match)),
        ("证照 licence", " · ".join(x for x in (v.type_name, v.licence_number) if x)),
        ("标识 e-licence id", v.licence_id),
        ("颁发 issuer", f"{v.issuer_name} ({v.issuer_code})" if v.issuer_code else ""),
        ("有效期 validity", f"{v.valid_from} – {until}" if v.valid_from else ""),
        ("版本 version", str(v.version) if v.version else ""),
        ("签名 signature", _signature(v)),
        ("文件 document", "authentic 真实" if v.document_authentic else ""),
        ("核验时间 checked", render.when(v.checked_at)),
        ("核验回执 receipt", v.receipt_id),
        ("核验地区 answered by", f"region {v.region}" if v.region else ""),
        ("对方回执 peer receipt", v.peer_receipt_id),
    ]
    return _card(pairs)


def _signature(v: vpb.Verification) -> str:
    if not v.licence_id:
        return ""
    state = "verified 已验证" if v.signature_verified else "NOT verified 未通过"
    return f"{state} (key {v.signature_key_id})"


def _card(pairs: Iterable[tuple[str, str]]) -> str:
    shown = [(k, v) for k, v in pairs if v]
    cells = max(render.width(k) for k, _ in shown)
    return "\n".join(f"{k}{' ' * (cells - render.width(k))}  {v}" for k, v in shown)


def _exit(result: vpb.Verification) -> int:
    if result.verdict != vpb.VERDICT_VALID:
        return NOT_VALID_EXIT
    for match in (result.holder_number_match, result.holder_name_match):
        if match != vpb.HOLDER_MATCH_UNSPECIFIED and match not in _MATCHED_OR_ABSENT:
            return HOLDER_NOT_MATCHED_EXIT
    return 0


def _as_of(text: str | None) -> Timestamp | None:
    if not text:
        return None
    ts = Timestamp()
    ts.FromDatetime(beijing_instant(text, "--as-of"))
    return ts


def cmd_verify(ctx: Context) -> int:
    """Verify a licence by REF, optionally against the presented holder."""
    a = ctx.args
    request = vpb.VerifyLicenceRequest(
        licence=licence_ref(a.ref),
        presented_holder_number=a.holder or "",
        presented_holder_name=a.holder_name or "",
        purpose=a.purpose or "",
        case_number=a.case or "",
    )
    as_of = _as_of(a.as_of)
    if as_of is not None:
        request.as_of.CopyFrom(as_of)
    result = ctx.client().verify_licence(request)
    ctx.out.show(result, lambda: verification_card(result))
    return _exit(result)


def cmd_verify_holder(ctx: Context) -> int:
    """Every licence of a holder (of the given types), each with its verdict."""
    a = ctx.args
    answer = ctx.client().verify_by_holder(
        holder_number=a.holder_number,
        type_codes=a.type,
        presented_holder_name=a.holder_name or "",
        valid_only=a.valid_only,
        purpose=a.purpose or "",
        case_number=a.case or "",
        consent_grant_id=a.consent or "",
    )
    ctx.out.show(answer, lambda: _holder_table(answer))
    return 0 if any(v.verdict == vpb.VERDICT_VALID for v in answer.verifications) else 3


def _holder_table(answer: vpb.VerifyByHolderResponse) -> str:
    rows = [
        (_verdict(v.verdict), v.type_name, v.licence_number, v.valid_until or "长期", v.licence_id)
        for v in answer.verifications
    ]
    receipt = answer.verifications[0].receipt_id if answer.verifications else ""
    table = render.table(("verdict", "type", "number", "valid until", "e-licence id"), rows)
    return f"{table}\n核验回执 receipt  {receipt}"


def cmd_receipt(ctx: Context) -> int:
    """Show a receipt and check its signature."""
    check = ctx.client().verify_receipt(receipt_id=ctx.args.receipt_id)
    ctx.out.show(check, lambda: _receipt_card(check))
    return 0 if check.authentic else NOT_VALID_EXIT


def _receipt_card(check: vpb.ReceiptCheck) -> str:
    r = check.receipt
    state = "AUTHENTIC 真实有效" if check.authentic else f"NOT AUTHENTIC 验证失败 ({check.reason})"
    body = json.loads(r.body_json)
    lines = [
        _card(
            [
                ("回执 receipt", r.receipt_id),
                ("签名 signature", f"{state} (key {r.signature.key_id})"),
                ("时间 issued", render.when(r.issued_at)),
                ("核验单位 requester", r.requester_code),
                ("经办人 staff", f"{r.staff} (as the requester says)" if r.staff else ""),
            ]
        ),
        "",
    ]
    for answer in body.get("answers", []):
        asked = ", ".join(f"{k}={v}" for k, v in answer.get("asked", {}).items())
        lines.append(
            f"- {answer['verdict'].upper()} ({answer['reason']}) {answer.get('licence_id', '')}"
            f"\n    asked: {asked}\n    number {answer['holder_number_match']}, "
            f"name {answer['holder_name_match']}, content sha256 {answer['content_sha256'][:16]}…"
        )
    return "\n".join(lines)


def cmd_export(ctx: Context) -> int:
    """Write a licence version as a signed document (JSON) to a file or stdout."""
    doc = ctx.client().export_document(licence=licence_ref(ctx.args.ref), version=ctx.args.version)
    text = render.to_json(doc)
    if ctx.args.output:
        Path(ctx.args.output).write_text(text + "\n", encoding="utf-8")
        ctx.out.note(f"wrote {ctx.args.output}")
    else:
        print(text, file=ctx.out.stdout)
    return 0


def cmd_qr(ctx: Context) -> int:
    """A short-lived QR payload for showing a licence at a counter (亮证)."""
    qr = ctx.client().issue_qr_payload(licence=licence_ref(ctx.args.ref), ttl_seconds=ctx.args.ttl)
    ctx.out.show(qr, lambda: f"{qr.payload}\nexpires {render.when(qr.expires_at)}")
    return 0


def cmd_issuer_keys(ctx: Context) -> int:
    """Write the issuers' public keys (for ``verify-document --offline``)."""
    keys = ctx.client().get_issuer_keys(issuer_codes=ctx.args.issuer)
    text = render.to_json(keys)
    if ctx.args.output:
        Path(ctx.args.output).write_text(text + "\n", encoding="utf-8")
        ctx.out.note(f"wrote {ctx.args.output} ({len(keys.issuers)} issuers)")
    else:
        print(text, file=ctx.out.stdout)
    return 0


def _read_document(path: Path) -> vpb.SignedDocument:
    try:
        return json_format.Parse(path.read_text(encoding="utf-8"), vpb.SignedDocument())
    except (OSError, json_format.ParseError, UnicodeDecodeError) as exc:
        raise SetupError(
            InvalidArgument.field("FILE", f"{path} is not a signed document: {exc}", "FORMAT")
        ) from None


def cmd_verify_document(ctx: Context) -> int:
    """Check a signed document (or a QR payload) — on the server, or offline with keys."""
    a = ctx.args
    if a.offline:
        return _verify_offline(ctx)
    if a.qr:
        result = ctx.client().verify_document(qr_payload=a.qr)
    else:
        result = ctx.client().verify_document(signed_document=_read_document(Path(a.file)))
    ctx.out.show(result, lambda: verification_card(result))
    return _exit(result)


def _offline_keys(path: Path) -> dict[str, Any]:
    """The issuers' keys in ``path`` as the server's key records (needs the server package)."""
    public_key = server_part("services.common.signing", "PublicKey")
    key_record = server_part("services.licence_store.domain.catalogue", "SigningKeyRecord")
    try:
        keys = json_format.Parse(path.read_text(encoding="utf-8"), vpb.IssuerKeys())
    except (OSError, json_format.ParseError, UnicodeDecodeError) as exc:
        raise SetupError(
            InvalidArgument.field("--keys", f"{path} is not an issuer-keys file: {exc}", "FORMAT")
        ) from None
    records = {}
    for issuer in keys.issuers:
        for k in issuer.keys:
            public = public_key.from_pem(k.key_id, k.public_key_pem)
            until = k.valid_until.ToDatetime(tzinfo=UTC) if k.HasField("valid_until") else None
            records[k.key_id] = key_record(
                k.key_id,
                issuer.issuer_code,
                k.algorithm,
                public.public_key,
                k.valid_from.ToDatetime(tzinfo=UTC),
                until,
            )
    return records


def _verify_offline(ctx: Context) -> int:
    a = ctx.args
    if not a.keys or not a.file:
        raise SetupError(
            InvalidArgument.field(
                "--keys", "offline checking needs FILE and --keys KEYS", "REQUIRED"
            )
        )
    # Offline checking applies the verifier's own rules (services.verifier.domain.document),
    # so it needs the server package; a client-only installation says so.
    check_document = server_part("services.verifier.domain.document", "check_document")
    signature_holds = server_part("services.common.signing", "signature_holds")
    keys = _offline_keys(Path(a.keys))
    doc = _read_document(Path(a.file))
    check = check_document(
        doc.content_json,
        doc.signature.key_id,
        doc.signature.value,
        keys.get,
        verify=signature_holds,
    )
    result: dict[str, Any] = {
        "document_authentic": check.authentic,
        "integrity": check.integrity.value,
        "verdict": "CANNOT_CHECK",
        "reason": "OFFLINE: current status needs the licence store",
        "licence_id": check.content.get("licence_id", ""),
        "version": check.content.get("version", 0),
        "content_sha256": check.content_sha256,
    }
    if ctx.out.json:
        print(json.dumps(result, ensure_ascii=False), file=ctx.out.stdout)
    else:
        print(_offline_card(result), file=ctx.out.stdout)
    return 0 if check.authentic else NOT_VALID_EXIT


def _offline_card(r: dict[str, Any]) -> str:
    authentic = "AUTHENTIC 真实" if r["document_authentic"] else "NOT AUTHENTIC 非真实"
    return _card(
        [
            ("文件 document", f"{authentic}   ({r['integrity']})"),
            ("核验结论 verdict", f"CANNOT_CHECK 无法核验   ({r['reason']})"),
            ("标识 e-licence id", str(r["licence_id"])),
            ("版本 version", str(r["version"])),
        ]
    )


def cmd_service_items(ctx: Context) -> int:
    """The service items and their required materials."""
    items = ctx.client().list_service_items()
    rows = [
        (
            i.code,
            i.name,
            "、".join(m.name + ("*" if m.licence_type_code else "") for m in i.materials),
        )
        for i in items.items
    ]
    ctx.out.show(
        items,
        lambda: render.table(("code", "service item", "materials (* = e-licence)"), rows),
    )
    return 0


def cmd_materials(ctx: Context) -> int:
    """Which of a service item's materials the applicant need not bring (免提交)."""
    check = ctx.client().check_materials(
        item_code=ctx.args.item,
        applicant_number=ctx.args.applicant,
        consent_grant_id=ctx.args.consent or "",
        **why(ctx.args),
    )
    ctx.out.show(check, lambda: _materials_table(check))
    return 0


def _materials_table(check: vpb.MaterialsCheck) -> str:
    rows = [
        (
            "免提交 exempt" if m.covered else "须提交 bring",
            m.material.name,
            m.verification.licence_id if m.covered else m.reason,
        )
        for m in check.materials
    ]
    receipt = next((m.verification.receipt_id for m in check.materials if m.covered), "")
    head = f"{check.item.code} {check.item.name}"
    tail = f"\n核验回执 receipt  {receipt}" if receipt else ""
    return f"{head}\n{render.table(('', 'material', 'e-licence / reason'), rows)}{tail}"


__all__ = [
    "cmd_export",
    "cmd_issuer_keys",
    "cmd_materials",
    "cmd_qr",
    "cmd_receipt",
    "cmd_service_items",
    "cmd_verify",
    "cmd_verify_document",
    "cmd_verify_holder",
]
