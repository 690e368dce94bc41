"""What a header a client asks Taskhook to send may contain (checked at create time, so that what is
stored can be sent as it is): a token for a name (RFC 9110), and for a value no control character
but the tab (no NUL, CR or LF), no leading white space, and nothing outside ISO-8859-1 (which is
all HTTP/1.1 carries)."""

from __future__ import annotations

import re
import unicodedata

_NAME = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")


def is_header_name(name: object) -> bool:
    return isinstance(name, str) and _NAME.fullmatch(name) is not None


def is_header_value(value: object) -> bool:
    if not isinstance(value, str) or value[:1] in (" ", "\t"):
        return False
    if any(ch != "\t" and unicodedata.category(ch) == "Cc" for ch in value):
        return False
    try:
        value.encode("latin-1")
    except UnicodeEncodeError:
        return False
    return True
