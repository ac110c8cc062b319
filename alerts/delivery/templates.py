"""Messages in Vietnamese and English for every kind of notification, in every channel's form.

Pure: a ``Notification`` (language-neutral, from the planner) plus the language and the console's
public URL give a ``RenderedMessage`` holding each form a channel needs — an e-mail subject, plain
text and HTML body; a short title and body for a phone push; a chat message for Zalo (plain) and
Telegram (its HTML subset). Every form links back to the alert. Times are shown in Vietnam's local
time; severities in words a reader knows ("nghiêm trọng", not "critical").
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from html import escape
from typing import Any
from zoneinfo import ZoneInfo

from alerts.delivery.model import AlertStatus, Notification, NotificationAlert, NotificationKind

__all__ = ["LOCAL_TZ", "RenderedMessage", "format_time", "render", "severity_name"]

LOCAL_TZ = ZoneInfo("Asia/Ho_Chi_Minh")
# A chat or push message lists this many alerts, then "and N more"; the e-mail lists them all
# up to EMAIL_MAX_ALERTS (a group of thousands is a link, not a letter).
SHORT_MAX_ALERTS = 3
EMAIL_MAX_ALERTS = 100

_SEVERITY = {
    "vi": {"critical": "nghiêm trọng", "warning": "cảnh báo", "info": "thông tin"},
    "en": {"critical": "critical", "warning": "warning", "info": "info"},
}
_SEVERITY_RANK = {"critical": 0, "warning": 1, "info": 2}
_LABEL_NAMES = {
    "vi": {"rule": "quy tắc", "province_code": "tỉnh/thành", "commune_code": "xã/phường", "agency_code": "cơ quan",
           "sector": "lĩnh vực", "stream": "luồng dữ liệu", "severity": "mức độ"},
    "en": {"rule": "rule", "province_code": "province", "commune_code": "commune", "agency_code": "agency",
           "sector": "sector", "stream": "stream", "severity": "severity"},
}  # fmt: skip
_LEVELS = {
    "vi": {"commune": "cấp xã", "province": "cấp tỉnh", "national": "cấp trung ương"},
    "en": {"commune": "commune level", "province": "provincial level", "national": "national level"},
}
_MONTHS_EN = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")

# Every fixed phrase, per language. Placeholders are filled with str.format.
_WORDS: dict[str, dict[str, str]] = {
    "vi": {
        "resolved_tag": "Đã khắc phục",
        "firing_many": "{n} cảnh báo đang kích hoạt",
        "and_resolved": ", {n} đã khắc phục",
        "resolved_many": "{n} cảnh báo đã khắc phục",
        "alert_fallback": "Thông báo cảnh báo",
        "escalation_tag": "Chuyển cấp {step}",
        "not_acked": "Chưa được xác nhận",
        "alerts_count": "{n} cảnh báo",
        "silence_title": "[Sắp hết tạm tắt] Tạm tắt #{id} kết thúc lúc {at}",
        "test_title": "[Thử] Tin nhắn thử từ IOC",
        "group_intro": "Nhóm cảnh báo: {group}",
        "all": "tất cả",
        "escalation_intro": "Cảnh báo chưa được xác nhận{after}; đã chuyển lên {level}.",
        "escalation_after": " sau {m} phút làm việc",
        "escalation_level_default": "cấp trên",
        "silence_intro": "Tạm tắt #{id} kết thúc lúc {at}. Sau đó, các cảnh báo khớp với nó sẽ được thông báo lại.",
        "silence_comment": "Lý do tạm tắt: {comment}",
        "test_intro": "Đây là tin nhắn thử do quản trị viên gửi: kênh thông báo này hoạt động bình thường.",
        "firing_section": "Đang kích hoạt ({n})",
        "resolved_section": "Đã khắc phục ({n})",
        "since": "từ {at}",
        "resolved_at": "khắc phục lúc {at}",
        "acked_by": "đã xác nhận: {who}",
        "more": "… và {n} cảnh báo khác",
        "resolved_prefix": "Đã khắc phục: ",
        "open": "Xem trên IOC",
        "footer": "Thời gian theo giờ Việt Nam (UTC+7). Thư tự động từ IOC — Trung tâm giám sát, điều hành thông minh.",
    },
    "en": {
        "resolved_tag": "Resolved",
        "firing_many": "{n} alert{s} firing",
        "and_resolved": ", {n} resolved",
        "resolved_many": "{n} alert{s} resolved",
        "alert_fallback": "Alert notification",
        "escalation_tag": "Escalation {step}",
        "not_acked": "Not acknowledged",
        "alerts_count": "{n} alert{s}",
        "silence_title": "[Silence ending] Silence #{id} ends at {at}",
        "test_title": "[Test] IOC test message",
        "group_intro": "Alert group: {group}",
        "all": "all",
        "escalation_intro": "Not acknowledged{after}; escalated to the {level}.",
        "escalation_after": " after {m} working minutes",
        "escalation_level_default": "next level",
        "silence_intro": "Silence #{id} ends at {at}. After that, alerts matching it will notify again.",
        "silence_comment": "Reason for the silence: {comment}",
        "test_intro": "This is a test message sent by an administrator: this notification channel works.",
        "firing_section": "Firing ({n})",
        "resolved_section": "Resolved ({n})",
        "since": "since {at}",
        "resolved_at": "resolved at {at}",
        "acked_by": "acknowledged by {who}",
        "more": "… and {n} more alert{s}",
        "resolved_prefix": "Resolved: ",
        "open": "Open in IOC",
        "footer": "Times are Vietnam time (UTC+7). Automatic message from IOC, the operations command centre.",
    },
}


@dataclass(frozen=True)
class RenderedMessage:
    language: str
    title: str  # the headline: e-mail subject, push title, first line of a chat message
    text: str  # e-mail plain-text body
    html: str  # e-mail HTML body
    short: str  # a few lines, no headline, no link: push body
    chat_text: str  # Zalo: headline, short body, link
    chat_html: str  # Telegram (parse_mode HTML): the same, in the tags Telegram accepts
    link: str  # absolute URL back to the alert (or the alert list, the silence)

    @property
    def subject(self) -> str:
        return self.title


def render(notification: Notification, *, language: str, public_url: str) -> RenderedMessage:
    lang = "en" if language == "en" else "vi"
    w = _WORDS[lang]
    base = public_url.rstrip("/")
    link = base + _link_path(notification)
    title = _title(notification, lang)
    intro = _intro(notification, lang)
    firing, resolved = notification.firing, notification.resolved

    # Plain text e-mail.
    lines = [title, "", *intro]
    html_parts = [f"<h2>{escape(title)}</h2>", *(f"<p>{escape(p)}</p>" for p in intro)]
    for heading, alerts in ((w["firing_section"], firing), (w["resolved_section"], resolved)):
        if not alerts:
            continue
        lines += ["", heading.format(n=len(alerts)) + ":"]
        html_parts.append(f"<h3>{escape(heading.format(n=len(alerts)))}</h3><ul>")
        for a in alerts[:EMAIL_MAX_ALERTS]:
            detail = _alert_detail(a, lang)
            url = base + a.link
            lines += [f"• {detail}", f"  {url}"]
            html_parts.append(f'<li>{escape(detail)} — <a href="{escape(url)}">{escape(w["open"])}</a></li>')
        if len(alerts) > EMAIL_MAX_ALERTS:
            more = _count(w["more"], len(alerts) - EMAIL_MAX_ALERTS)
            lines.append(more)
            html_parts.append(f"<li>{escape(more)}</li>")
        html_parts.append("</ul>")
    lines += ["", f"{w['open']}: {link}", "", w["footer"]]
    html_parts += [
        f'<p><a href="{escape(link)}">{escape(w["open"])}</a></p>',
        f'<p style="color:#666;font-size:smaller">{escape(w["footer"])}</p>',
    ]
    html = (
        f'<!DOCTYPE html><html lang="{lang}"><head><meta charset="utf-8"><title>{escape(title)}</title></head>'
        f"<body>{''.join(html_parts)}</body></html>"
    )

    short = "\n".join(_short_lines(notification, lang))
    chat_text = "\n".join(p for p in (title, short, link) if p)
    chat_html = "\n".join(
        p for p in (f"<b>{escape(title)}</b>", escape(short), f'<a href="{escape(link)}">{escape(w["open"])}</a>') if p
    )
    return RenderedMessage(lang, title, "\n".join(lines) + "\n", html, short, chat_text, chat_html, link)


def severity_name(severity: str, language: str) -> str:
    """``critical`` → "nghiêm trọng" / "critical"; an unknown severity is shown as it is."""
    return _SEVERITY["en" if language == "en" else "vi"].get(severity, severity)


def format_time(t: datetime, language: str) -> str:
    """Local time in Vietnam: "08:30 12/10/2026" / "12 Oct 2026 08:30"."""
    local = t.astimezone(LOCAL_TZ) if t.tzinfo else t.replace(tzinfo=LOCAL_TZ)
    if language == "en":
        return f"{local.day} {_MONTHS_EN[local.month - 1]} {local.year} {local:%H:%M}"
    return f"{local:%H:%M %d/%m/%Y}"


# --------------------------------------------------------------------------- pieces


def _title(n: Notification, lang: str) -> str:
    w = _WORDS[lang]
    firing, resolved = n.firing, n.resolved
    if n.kind is NotificationKind.TEST:
        return w["test_title"]
    if n.kind is NotificationKind.SILENCE_EXPIRY:
        return w["silence_title"].format(id=n.extra.get("silence_id", "?"), at=_extra_time(n.extra, "ends_at", lang))
    if n.kind is NotificationKind.ESCALATION:
        tag = w["escalation_tag"].format(step=int(n.extra.get("step", 0)) + 1)
        what = _summary(firing[0] if firing else n.alerts[0], lang) if len(n.alerts) == 1 else (
            _count(w["alerts_count"], len(n.alerts)))  # fmt: skip
        return f"[{tag}] {w['not_acked']}: {what}"
    if firing:
        tag = _capitalised(severity_name(_worst(firing), lang))
        if len(firing) == 1 and not resolved:
            return f"[{tag}] {_summary(firing[0], lang)}"
        tail = w["and_resolved"].format(n=len(resolved)) if resolved else ""
        return f"[{tag}] {_count(w['firing_many'], len(firing))}{tail} — {_group(n.group_labels, lang)}"
    if len(resolved) == 1:
        return f"[{w['resolved_tag']}] {_summary(resolved[0], lang)}"
    if resolved:
        return f"[{w['resolved_tag']}] {_count(w['resolved_many'], len(resolved))} — {_group(n.group_labels, lang)}"
    return w["alert_fallback"]


def _intro(n: Notification, lang: str) -> list[str]:
    w = _WORDS[lang]
    if n.kind is NotificationKind.TEST:
        return [w["test_intro"]]
    if n.kind is NotificationKind.SILENCE_EXPIRY:
        out = [w["silence_intro"].format(id=n.extra.get("silence_id", "?"), at=_extra_time(n.extra, "ends_at", lang))]
        if n.extra.get("comment"):
            out.append(w["silence_comment"].format(comment=n.extra["comment"]))
        return out
    if n.kind is NotificationKind.ESCALATION:
        minutes = n.extra.get("after_working_minutes")
        after = w["escalation_after"].format(m=minutes) if minutes is not None else ""
        level = _LEVELS[lang].get(str(n.extra.get("level")), w["escalation_level_default"])
        return [w["escalation_intro"].format(after=after, level=level), w["group_intro"].format(
            group=_group(n.group_labels, lang))]  # fmt: skip
    return [w["group_intro"].format(group=_group(n.group_labels, lang))]


def _short_lines(n: Notification, lang: str) -> list[str]:
    w = _WORDS[lang]
    if n.kind in (NotificationKind.TEST, NotificationKind.SILENCE_EXPIRY):
        return _intro(n, lang)
    lines = [_intro(n, lang)[0]] if n.kind is NotificationKind.ESCALATION else []
    ordered = (*n.firing, *n.resolved)
    for a in ordered[:SHORT_MAX_ALERTS]:
        prefix = w["resolved_prefix"] if a.status is AlertStatus.RESOLVED else ""
        lines.append(f"• {prefix}{_summary(a, lang)}")
    if len(ordered) > SHORT_MAX_ALERTS:
        lines.append(_count(w["more"], len(ordered) - SHORT_MAX_ALERTS))
    return lines


def _alert_detail(a: NotificationAlert, lang: str) -> str:
    w = _WORDS[lang]
    parts = [f"[{_capitalised(severity_name(a.severity, lang))}] {_summary(a, lang)}"]
    where = _places(a.labels, lang)
    if where:
        parts.append(where)
    parts.append(w["since"].format(at=format_time(a.starts_at, lang)))
    if a.status is AlertStatus.RESOLVED and a.ends_at is not None:
        parts.append(w["resolved_at"].format(at=format_time(a.ends_at, lang)))
    if a.acknowledged_by:
        parts.append(w["acked_by"].format(who=a.acknowledged_by))
    return " — ".join(parts)


def _summary(a: NotificationAlert, lang: str) -> str:
    text = a.summary_en if lang == "en" else a.summary_vi
    return text or a.summary_vi or a.summary_en or a.rule_id


def _worst(alerts: tuple[NotificationAlert, ...]) -> str:
    return min((a.severity for a in alerts), key=lambda s: _SEVERITY_RANK.get(s, 9))


def _group(labels: Mapping[str, str], lang: str) -> str:
    if not labels:
        return _WORDS[lang]["all"]
    names = _LABEL_NAMES[lang]
    shown = [f"{names.get(k, k)}: {severity_name(v, lang) if k == 'severity' else v}" for k, v in labels.items()]
    return " · ".join(shown)


def _places(labels: Mapping[str, str], lang: str) -> str:
    names = _LABEL_NAMES[lang]
    keys = ("province_code", "commune_code", "agency_code", "sector")
    return ", ".join(f"{names[k]} {labels[k]}" for k in keys if labels.get(k))


def _link_path(n: Notification) -> str:
    explicit = n.extra.get("link")
    if isinstance(explicit, str) and explicit.startswith("/") and not explicit.startswith("//"):
        return explicit
    if n.kind is NotificationKind.SILENCE_EXPIRY:
        # The silence as the API shows it (signed in, a browser reads it there); silences are
        # managed through the API, the console has no page for them.
        return f"/api/v1/silences/{n.extra.get('silence_id', '')}".rstrip("/")
    # One alert to look at: straight to it. An escalation is about its first alert.
    if len(n.firing) == 1:
        return n.firing[0].link
    if len(n.alerts) == 1 or (n.kind is NotificationKind.ESCALATION and n.alerts):
        return n.alerts[0].link
    return "/alerts"


def _extra_time(extra: Mapping[str, Any], key: str, lang: str) -> str:
    value = extra.get(key)
    if isinstance(value, datetime):
        return format_time(value, lang)
    if isinstance(value, str):
        try:
            return format_time(datetime.fromisoformat(value), lang)
        except ValueError:
            return value
    return "?"


def _count(phrase: str, n: int) -> str:
    """Fill a phrase's count; ``{s}`` is the English plural ending (Vietnamese has none)."""
    return phrase.format(n=n, s="" if n == 1 else "s")


def _capitalised(text: str) -> str:
    return text[:1].upper() + text[1:]
