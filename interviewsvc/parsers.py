"""JSON from clients, refused before parsing when it nests deeper than ``MAX_JSON_DEPTH``.

Python's ``json`` recurses once per level: 100,000 ``[`` raise ``RecursionError`` (a 500 on
REST, ``internal_error`` on a socket), and every level below that costs stack. The depth is
measured first, without recursion and in time linear in the body (bounded by
``MAX_REQUEST_BODY_BYTES``); a deeper document is a 400 ``malformed_request`` on REST and an
``invalid_message`` frame on a socket (interviews/realtime/limits.py).
"""

import codecs
import re

from django.conf import settings
from rest_framework.exceptions import ParseError
from rest_framework.parsers import JSONParser, get_encoding
from rest_framework.utils import json

# A JSON string, escapes included, so the brackets in it do not count; an unterminated one runs
# to the end. Possessive and always matching from a quote: linear, whatever the input.
_STRING = re.compile(r'"[^"\\]*+(?:\\.[^"\\]*+)*+(?:"|\\?\Z)', re.DOTALL)
# Outside strings only brackets matter for depth, as one kind ("{" counts as "[").
_ONE_KIND = bytes.maketrans(b"{}", b"[]")
_NOT_BRACKET = bytes(c for c in range(256) if c not in b"[]{}")


class JSONTooDeep(ValueError):
    """The document nests more arrays/objects than ``MAX_JSON_DEPTH``."""


def json_depth_check(text: str, max_depth: int | None = None) -> None:
    """Raise :class:`JSONTooDeep` when ``text`` nests more than ``max_depth`` levels.

    Without recursion, in C loops: the brackets outside strings are kept, as one kind, and each
    pass deletes the innermost (empty) pairs, one level, so a document is ``n`` levels deep when
    ``n`` passes empty it; at most ``max_depth`` passes over at most the body size limit.
    Brackets that do not pair up (malformed JSON) are refused here too, since json would recurse
    into an unclosed run before noticing: as too deep when more than ``max_depth`` open in a row.
    """
    limit = settings.MAX_JSON_DEPTH if max_depth is None else max_depth
    if text.count("[") + text.count("{") <= limit:  # cannot be deeper: no scan
        return
    too_deep = JSONTooDeep(f"JSON nested deeper than {limit} levels.")
    # Non-ASCII outside strings is not JSON (json says so); it does not count here.
    brackets = _STRING.sub("", text).encode("ascii", "ignore").translate(_ONE_KIND, _NOT_BRACKET)
    if b"[" * (limit + 1) in brackets:
        raise too_deep
    for _ in range(limit):
        # bytes.replace does not rescan what it produced: "[[]]" becomes "[]", one level a pass.
        reduced = brackets.replace(b"[]", b"")
        if len(reduced) == len(brackets):  # empty, or no pair left ("]]..[["): unbalanced
            break
        brackets = reduced
    if b"[]" in brackets or b"[" * (limit + 1) in brackets:
        raise too_deep
    if brackets:
        raise ValueError("Brackets do not match.")


def json_loads_bounded(text: str, **kwargs):
    """``json.loads`` (DRF's strict one) after :func:`json_depth_check`."""
    json_depth_check(text)
    return json.loads(text, **kwargs)


class DepthLimitedJSONParser(JSONParser):
    """DRF's ``JSONParser`` with the depth limit; the body is already bounded in size (asgi_limits)."""

    def parse(self, stream, media_type=None, parser_context=None):
        encoding = get_encoding(parser_context or {})
        try:
            text = codecs.getreader(encoding)(stream).read()
            return json_loads_bounded(text, parse_constant=json.strict_constant if self.strict else None)
        except JSONTooDeep as exc:
            raise ParseError(str(exc))
        except ValueError as exc:
            raise ParseError(f"JSON parse error - {exc}")
