"""Short plain-language text for times and durations."""

from __future__ import annotations

import re
from datetime import datetime

from backend.core.errors import MESSAGE_LIMIT, cap_message


def ago(when: datetime | None, now: datetime | None = None) -> str:
    """'3 min ago' style text for a naive-UTC timestamp."""
    if when is None:
        return "—"
    from backend.core.clock import utcnow

    seconds = max(0, int(((now or utcnow()) - when).total_seconds()))
    if seconds < 60:
        return f"{seconds} s ago"
    if seconds < 3600:
        return f"{seconds // 60} min ago"
    if seconds < 86400:
        return f"{seconds // 3600} h ago"
    return f"{seconds // 86400} d ago"


def duration(seconds: float | None) -> str:
    """Seconds as '1 h 02 min', '3 min 05 s' or '12 s'."""
    if seconds is None:
        return "—"
    s = int(seconds)
    if s >= 3600:
        return f"{s // 3600} h {s % 3600 // 60:02d} min"
    if s >= 60:
        return f"{s // 60} min {s % 60:02d} s"
    return f"{s} s"


def count_text(value: int | None, missing: str = "?") -> str:
    """A count, or `missing` when it was not recorded."""
    return missing if value is None else str(value)


def score_text(value: float | None, digits: int = 3) -> str:
    """A score such as mAP50 with `digits` decimals, or '—' when it was not measured."""
    return "—" if value is None else f"{value:.{digits}f}"


_IRREGULAR = {"box": "boxes", "class": "classes", "match": "matches", "child": "children", "person": "people"}


def plural(n: int, noun: str, many: str | None = None) -> str:
    """'1 version', '3 versions', '2 boxes': the count with the noun in the right form (pass `many` when irregular)."""
    if n == 1:
        return f"{n} {noun}"
    if many is None:
        many = _IRREGULAR.get(noun)
    if many is None:
        many = noun[:-1] + "ies" if noun.endswith("y") and noun[-2:-1] not in "aeiou" else noun + "s"
    return f"{n} {many}"


# Enough to stop links, images, emphasis, code, colour directives, emoji codes, maths and HTML. "_" is escaped only
# where it could start or end emphasis, "." only in "www." (a bare web address becomes a link), "&" only before an
# entity, and "#", "-", "+", "=" or "1." only at the start (a heading or a list): intraword, they format nothing,
# so file names such as demo_000001.jpg read and compare as written.
_MARKDOWN_SPECIAL = re.compile(r"([\\`*\[\]<>~:$|@])|(?<![A-Za-z0-9])_|_(?![A-Za-z0-9])|&(?=#?\w+;)")
_BADGE_SPECIAL = re.compile(r"([\\`*<>~:$|@])|(?<![A-Za-z0-9])_|_(?![A-Za-z0-9])|&(?=#?\w+;)")  # st.badge escapes []
_WEB = re.compile(r"(?i)\b(www)\.")
_BLOCK_START = re.compile(r"^([#+=-]|\d+(?=[.)]))")


def _escaped(text: object, limit: int, special: re.Pattern[str]) -> str:
    if text is None:
        return ""
    line = " ".join(cap_message(text, limit).split())
    line = special.sub(lambda m: "\\" + m.group(0), line)
    line = _WEB.sub(r"\1\\.", line)
    return _BLOCK_START.sub(lambda m: m.group(0) + "\\" if m.group(0)[0].isdigit() else "\\" + m.group(0), line)


def plain(text: object, limit: int = MESSAGE_LIMIT) -> str:
    """`text` (a file, class or dataset name, a message from an import) for use inside `st.markdown`: capped, on one
    line, with every Markdown, emoji-code, colour, maths and HTML character escaped, so it shows exactly as written
    and never becomes a link, an image or formatting. None gives "".

    Every Streamlit text that reads Markdown needs it: markdown, captions, alerts, headers, toasts, spinners,
    progress text, widget labels and help, metric labels and values, radio options. Selectbox and multiselect
    options, tables and `st.text` show text as it is and need nothing (escaping there would show the backslashes).
    """
    return _escaped(text, limit, _MARKDOWN_SPECIAL)


def plain_badge(text: object, limit: int = MESSAGE_LIMIT) -> str:
    """`plain` for an `st.badge` label, which escapes square brackets itself (escaping them twice would break it)."""
    return _escaped(text, limit, _BADGE_SPECIAL)
