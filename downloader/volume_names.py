"""What a file name says about a RAR volume's place in its set: one reading of the two naming rules.

The NZB's subjects (``usenet/nzb.py``, to fetch a first volume early) and the files on disk
(``post/recognise.py``, to check names against headers) both ask it; the headers have the last word.
"""

from __future__ import annotations

import re

_NEW_STYLE = re.compile(r"(?i)\.part0*(\d+)\.rar$")
_OLD_STYLE = re.compile(r"(?i)\.(?:rar|r(\d{2,3}))$")


def volume_number(name: str) -> int | None:
    """0 for ``x.part01.rar`` or ``x.rar``, 1 for ``x.part02.rar`` or ``x.r00``…, None for a name
    that is no volume's."""
    new = _NEW_STYLE.search(name)
    if new:
        return int(new.group(1)) - 1
    old = _OLD_STYLE.search(name)
    if old:
        return int(old.group(1)) + 1 if old.group(1) is not None else 0
    return None
