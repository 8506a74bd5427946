"""Text lengths as Java and JavaScript count them: UTF-16 code units.

bbb-web (Java `String.length()`) and Jitsi Meet (JavaScript `string.length`)
set their limits in these units, not in Python's code points: a character
beyond U+FFFF (most emoji) counts as two.
"""

from __future__ import annotations


def units(text: str) -> int:
    """The length Java and JavaScript give `text`."""
    return len(text.encode("utf-16-le", "surrogatepass")) // 2


def fitting(text: str, limit: int) -> int:
    """How many characters of `text` fit in `limit` UTF-16 units."""
    used = 0
    for index, char in enumerate(text):
        used += 2 if ord(char) > 0xFFFF else 1
        if used > limit:
            return index
    return len(text)
