"""User text shown as text: the one escape every page uses before a typed value meets Markdown.

``st.markdown``, ``st.write``, ``st.caption``, ``st.info`` / ``st.error`` …, titles and widget
labels all render Markdown (and with ``unsafe_allow_html``, HTML). A description such as
``![](http://host/x.png)`` would make every reader's browser fetch that address, ``[点我](…)``
would become a link, ``$x$`` a formula, ``:red[…]`` coloured text. ``plain`` backslash-escapes
every ASCII punctuation character (CommonMark's escape, which also defeats raw HTML, entities,
autolinks such as ``http://…`` or ``www.…``, math and Streamlit's directives) and keeps the
user's line breaks as line breaks.
"""
from __future__ import annotations

import html
import re
from typing import Any

_PUNCTUATION = re.compile(r"([!-/:-@\[-`{-~])")  # every ASCII punctuation character
# GFM turns bare addresses (http://…, www.…, name@host) into links after escapes are resolved, so
# an invisible word joiner (U+2060) goes where the pattern would match: shown as typed, no link.
_AUTOLINK = re.compile(r"(?i)((?:https?|ftp|mailto|xmpp)(?=\\:)|www(?=\\\.)|\\@)")
JOINER = "\u2060"


def plain(value: Any) -> str:
    """``value`` as literal text inside Markdown (and inside Markdown that allows HTML)."""
    if value is None:
        return ""
    text = _AUTOLINK.sub(lambda match: match.group(0) + JOINER, _PUNCTUATION.sub(r"\\\1", str(value)))
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    # A line of its own keeps its break (two spaces); leading blanks would start a code block; an
    # empty line would end the paragraph (and any bold around it), so it holds a no-break space.
    return "  \n".join(line.lstrip(" \t") or "\u00a0" for line in text.split("\n"))


# Markdown's syntax characters as character references: inside an HTML block Markdown is not parsed at all, and
# even a renderer that did parse it would find no link, image, formula, emphasis or directive there.
_MARKDOWN_SIGNS = str.maketrans({sign: f"&#{ord(sign)};" for sign in "[]()!$*_`~:\\|"})


def html_text(value: Any) -> str:
    """``value`` as text inside an HTML block rendered with ``unsafe_allow_html``: HTML-escaped, Markdown's
    signs as character references, and its line breaks as ``<br>`` (a blank line would end the HTML block and let
    Markdown resume)."""
    if value is None:
        return ""
    lines = str(value).replace("\r\n", "\n").replace("\r", "\n").split("\n")
    return "<br>".join(html.escape(line).translate(_MARKDOWN_SIGNS) for line in lines)


def plain_params(params: dict[str, Any]) -> dict[str, Any]:
    """Message parameters escaped for a Markdown message (numbers stay as they are)."""
    return {key: plain(value) if isinstance(value, str) else value for key, value in params.items()}
