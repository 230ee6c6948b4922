"""Error pages: every failure a person can meet at the desk, as a page that says what happened
and what to do — never a stack trace.

The services' errors arrive as :mod:`yihao_shared.errors` classes (the client library
translates gRPC statuses once): UNAVAILABLE and DEADLINE_EXCEEDED become a 503 "try again"
page; PERMISSION_DENIED a 403; anything unexpected a 500 page carrying a correlation id that
is also in the log line (with the traceback, server side only).
"""

from __future__ import annotations

import logging
import uuid
from typing import Any

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response

from clients.web.security import SecurityHeadersMiddleware
from clients.web.templating import render
from clients.web.viewmodels import Label
from yihao_shared.errors import DeadlineExceeded, PermissionDenied, Unavailable, YihaoError

__all__ = ["EXCEPTION_HANDLERS", "PROBLEMS", "problem_page"]

LOG = logging.getLogger("yihao.web")

#: key -> (title, what to do)
PROBLEMS: dict[str, tuple[Label, Label]] = {
    "400": (Label("请求有误", "Bad request"), Label("请返回重试。", "Go back and try again.")),
    "403": (
        Label("无权访问", "Not allowed"),
        Label("您的账号没有打开此页面的权限。", "Your account's roles do not include this page."),
    ),
    "department_role": (
        Label("部门无此职能", "Not your department's role"),
        Label(
            "您的部门在证照库中未登记此职能，请联系管理员。",
            "Your department is not registered for this role in the licence store; ask the "
            "administrator.",
        ),
    ),
    "404": (
        Label("页面不存在", "Page not found"),
        Label("请检查地址，或从首页进入。", "Check the address, or start from the dashboard."),
    ),
    "405": (
        Label("不支持的操作", "Method not allowed"),
        Label("此页面不接受这种请求。", "This page does not accept that kind of request."),
    ),
    "413": (
        Label("提交内容过大", "Too large"),
        Label("请分批提交。", "Send less at once."),
    ),
    "not_retryable": (
        Label("无法再次导入", "This import cannot be run again"),
        Label(
            "此次导入未中止、已再次导入过，或文件已不再保留（保留 24 小时）。请重新上传文件。",
            "It did not stop, it was run again already, or its file is no longer kept (24 "
            "hours): upload the file again.",
        ),
    ),
    "429": (
        Label("尝试次数过多", "Too many attempts"),
        Label("请稍后再试。", "Wait a while, then try again."),
    ),
    "csrf": (
        Label("表单已失效", "This form has expired"),
        Label(
            "表单已过期或并非来自本系统。请刷新页面后重新提交。",
            "The form expired, or did not come from this desk. Reload the page and send it again.",
        ),
    ),
    "503": (
        Label("服务暂时不可用", "Service unavailable"),
        Label(
            "证照服务暂时无法连接或响应过慢，请稍后重试；您的操作未被执行。",
            "The licence services cannot be reached or did not answer in time. Nothing was "
            "done; try again in a moment.",
        ),
    ),
    "500": (
        Label("系统出错", "Something went wrong"),
        Label(
            "请稍后重试；如仍出错，请将下面的编号告诉管理员。",
            "Try again later; if it happens again, give the administrator the reference below.",
        ),
    ),
}


def problem_page(request: Request, status: int, key: str | None = None, **extra: Any) -> Response:
    """The error page for ``status`` (``key`` picks the words; default the status)."""
    title, advice = PROBLEMS.get(key or str(status), PROBLEMS["400"])
    context = {"status": status, "title": title, "advice": advice, **extra}
    return render(request, "error.html", context, status=status)


def _http(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    key = exc.detail if exc.detail in PROBLEMS else None
    response = problem_page(request, exc.status_code, key)
    if exc.headers:
        response.headers.update(exc.headers)
    return response


def _service(request: Request, exc: Exception) -> Response:
    if isinstance(exc, Unavailable | DeadlineExceeded):
        LOG.warning("services unavailable: %s", type(exc).__name__)
        response = problem_page(request, 503)
        response.headers["Retry-After"] = "5"
        return response
    if isinstance(exc, PermissionDenied):
        return problem_page(request, 403)
    assert isinstance(exc, YihaoError)
    return problem_page(request, 400, detail=exc.message)


def _unexpected(request: Request, exc: Exception) -> Response:
    reference = uuid.uuid4().hex[:12]
    LOG.error("unexpected failure %s on %s", reference, request.url.path, exc_info=exc)
    try:
        response = problem_page(request, 500, reference=reference)
    except Exception:  # the page itself failed: say so plainly
        response = Response(f"500 - reference {reference}", status_code=500)
    # This runs outside the middleware stack, so the security headers are set here.
    response.headers.update(SecurityHeadersMiddleware(_noop).headers)
    response.headers["Cache-Control"] = "no-store"
    return response


async def _noop(*_: Any) -> None:  # pragma: no cover - an app that is never called
    return None


EXCEPTION_HANDLERS: dict[Any, Any] = {
    HTTPException: _http,
    YihaoError: _service,
    Exception: _unexpected,
}
