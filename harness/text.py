"""Making loss-made text inert before it is shown, published or put into a prompt.

Everything a loss can influence (its exception text, a stderr tail, a record's ``loss.name`` or
``error``, an LLM-written file) is untrusted. Each sink has one function here:

- a terminal (``harness check``, ``bench``, ``leaderboard``, ``runs``): ``clean_terminal`` removes
  ECMA-48 escape sequences (CSI cursor moves, OSC 52 clipboard writes, DCS/APC strings), every other
  C0/C1 control character and the Unicode bidirectional overrides (CVE-2021-42574, "Trojan Source");
- a Markdown table cell (the board's README.md): ``escape_markdown``;
- a CSV cell (leaderboard.csv): ``csv_cell``, the OWASP "CSV injection" rule;
- an LLM prompt (discovery): ``quote_for_prompt``, a fenced block the text cannot close;
- HTML uses ``html.escape`` (and the page renderer's own JSON-in-script escaping).

Every function accepts any value (``None`` becomes ""), and all of them apply ``clean_terminal``
first, so no sink ever receives a raw escape sequence.
"""

from __future__ import annotations

import re

# ECMA-48 (ISO 6429) sequences, 7-bit (ESC-prefixed) and 8-bit (C1) forms:
# control strings (OSC, DCS, SOS, PM, APC) run up to BEL or ST; an unterminated one runs to the end.
_CONTROL_STRING = r"(?:\x1b[\]PX^_]|[\x90\x98\x9d\x9e\x9f])[^\x07\x1b\x9c]*(?:\x07|\x1b\\|\x9c)?"
# CSI: parameter bytes 0x30-0x3F, intermediate bytes 0x20-0x2F, one final byte 0x40-0x7E
_CSI = r"(?:\x1b\[|\x9b)[\x30-\x3f]*[\x20-\x2f]*[\x40-\x7e]?"
# any other escape: ESC, intermediates, one final byte (ESC 7, ESC c, ESC ( B, ...)
_ESC = r"\x1b[\x20-\x2f]*[\x30-\x7e]?"
_SEQUENCE = re.compile(f"{_CONTROL_STRING}|{_CSI}|{_ESC}")
# what is left after the sequences: C0 except tab and newline, DEL, C1; bidi embeddings, overrides,
# isolates and marks; lone surrogates (from surrogateescape decoding; unprintable)
_CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069\ud800-\udfff]")
_LINE_BREAKS = re.compile("\r\n|[\u2028\u2029\x85]")


def _text(s) -> str:
    return "" if s is None else s if isinstance(s, str) else str(s)


def clean_terminal(s) -> str:
    """``s`` without escape sequences or control characters; newlines and tabs are kept.

    CRLF and the Unicode line/paragraph separators become "\\n"; a lone CR (which returns the cursor to
    the start of the line and lets later text overwrite earlier text) is removed. The result contains
    no character in U+0000-U+001F except "\\t" and "\\n", none in U+007F-U+009F, no bidi control and no
    lone surrogate, so no sequence can be formed again by concatenation.
    """
    s = _LINE_BREAKS.sub("\n", _text(s))
    return _CONTROL.sub("", _SEQUENCE.sub("", s))


def clean_line(s) -> str:
    """``clean_terminal`` on one line: newlines and tabs become single spaces (for table cells)."""
    return " ".join(clean_terminal(s).split())


def clean_block(s, indent: str = "    | ") -> str:
    """``clean_terminal`` text whose second and later lines start with ``indent``.

    For loss-made text inside a report: a line of it can never pass for a line of the report itself
    (a fake "VALID" line in an exception message stays visibly part of the quoted message).
    """
    return ("\n" + indent).join(clean_terminal(s).strip("\n").split("\n"))


# CommonMark lets any ASCII punctuation be backslash-escaped; these are the ones that start links,
# images, emphasis, code spans, tables, headings or strikethrough in GitHub-flavoured Markdown.
_MD_SPECIAL = re.compile(r"([\\`*_\[\](){}!|#~])")
_HTML = {"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;"}
_SCHEME = re.compile(r"(?i)\b(https?|ftp|mailto|javascript|data|file)(:)")


def escape_markdown(s) -> str:
    """``s`` as literal text in one GitHub-flavoured Markdown table cell.

    One line (newlines and tabs become spaces, so the row cannot end early); no link, image, emphasis,
    code span or pipe takes effect; raw HTML and character references become text (``&lt;`` etc.);
    bare URLs are not auto-linked (the colon after the scheme is an entity). Renders as the cleaned
    text itself.
    """
    s = clean_line(s)
    s = "".join(_HTML.get(ch, ch) for ch in s)
    s = _MD_SPECIAL.sub(r"\\\1", s)
    s = re.sub(r"(?i)\bwww\.", "www&#46;", s)  # GFM's extended autolinks also start at "www."
    return _SCHEME.sub(r"\1&#58;", s)


_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def csv_cell(s):
    """A CSV cell value that a spreadsheet shows as text, never evaluates (OWASP CSV injection).

    Strings are cleaned (``clean_terminal``) and prefixed with a single quote when they start with
    = + - @ tab or CR, also after leading spaces (some spreadsheets skip them), or with a fullwidth
    equals/plus/minus/at sign (U+FF1D, U+FF0B, U+FF0D, U+FF20; normalised by some importers).
    Numbers (int, float, bool) and None are returned as they are: a negative number is data.
    """
    if s is None or isinstance(s, (int, float)):
        return s
    s = clean_terminal(s)
    head = s.lstrip(" \n")
    if head.startswith(_FORMULA_START) or (head and head[0] in "\uff1d\uff0b\uff0d\uff20"):
        return "'" + s
    return s


def quote_for_prompt(s, info: str = "text") -> str:
    """``s`` as one fenced block for an LLM prompt, which the text inside cannot close.

    The fence is a run of backticks longer than any run of backticks in ``s`` (CommonMark's rule: a
    code fence closes only with at least as many backticks), so a fake closing fence in loss-made text
    stays inside the block; the text is cleaned of control characters and escape sequences first.
    ``info`` is the fence's info string (e.g. "python"), restricted to letters, digits and ``-_``.
    Returns the block, opening and closing fence included, without a trailing newline.
    """
    s = clean_terminal(s).strip("\n")
    longest = max((len(run) for run in re.findall(r"`+", s)), default=0)
    fence = "`" * max(3, longest + 1)
    info = re.sub(r"[^A-Za-z0-9_-]", "", info or "")
    return f"{fence}{info}\n{s}\n{fence}"
