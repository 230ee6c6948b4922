"""The view-model layer: plain functions turning what the services answer into what templates
show. No HTTP and no gRPC here — page helpers extend this module (or add ``viewmodels_*.py``
beside it) and unit-test it without a server.

Conventions, as in the command line: Chinese label first, English beside it
(:class:`Label`); a holder number the handler did not type is masked (:func:`mask_number`);
times are shown in China time.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone

__all__ = [
    "CHINA",
    "FLASH",
    "ROLE_LABELS",
    "Label",
    "china_time",
    "flash_message",
    "mask_number",
]

#: China Standard Time (no daylight saving).
CHINA = timezone(timedelta(hours=8), "CST")


@dataclass(frozen=True)
class Label:
    """A bilingual label: Chinese first, English beside it."""

    zh: str
    en: str

    def __str__(self) -> str:
        return f"{self.zh} {self.en}"


#: The desk's roles, as pages name them.
ROLE_LABELS: dict[str, Label] = {
    "handler": Label("窗口人员", "handler"),
    "supervisor": Label("监察人员", "supervisor"),
    "operator": Label("证照业务人员", "operator"),
    "admin": Label("管理员", "administrator"),
}

#: Messages a redirect may ask the next page to show (``?m=<key>``); nothing else is shown,
#: so a link cannot put words of its own on a desk page.
FLASH: dict[str, tuple[str, Label]] = {
    "signed_out": ("info", Label("已安全退出。", "You have signed out.")),
    "expired": (
        "warning",
        Label("会话已过期，请重新登录。", "Your session expired; sign in again."),
    ),
    "signin_required": ("info", Label("请先登录。", "Please sign in first.")),
    "account_added": ("info", Label("账号已创建。", "The account is created.")),
    "account_disabled": (
        "info",
        Label("账号已停用，其会话已全部结束。", "The account is disabled and its sessions ended."),
    ),
    "account_enabled": ("info", Label("账号已启用。", "The account is enabled.")),
    "account_password": (
        "info",
        Label(
            "密码已重设，该账号的会话已全部结束。",
            "The password is set; the account's sessions ended.",
        ),
    ),
    "account_unlocked": ("info", Label("登录锁定已解除。", "The sign-in lock is lifted.")),
    "consent_revoked": (
        "info",
        Label("授权已撤回，立即生效。", "The consent is revoked, at once."),
    ),
}


def flash_message(key: str | None) -> tuple[str, Label] | None:
    """The (level, message) for a flash key, or None for an unknown one."""
    return FLASH.get(key or "")


def mask_number(number: str, *, typed: bool = False) -> str:
    """A holder number as the page may show it: whole only if the person at the desk typed it;
    else the first 6 and last 4 characters (``110105********002X``)."""
    if typed or len(number) <= 10:
        return number if typed else "*" * len(number)
    return number[:6] + "*" * (len(number) - 10) + number[-4:]


def china_time(epoch_seconds: float) -> str:
    """``2026-12-04 14:13`` in China time."""
    when = datetime.fromtimestamp(epoch_seconds, UTC).astimezone(CHINA)
    return when.strftime("%Y-%m-%d %H:%M")
