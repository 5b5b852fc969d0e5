"""Records (documents) of a byte range of a file, found without reading what lies before it.

A file is cut into records at boundaries: byte 0, and the byte after each separator (a newline
for .jsonl; a newline that ends a blank line for .txt paragraphs). Whether a position is a
boundary depends only on the few bytes before it, so a reader that seeks to any byte `a` finds
the same boundaries as one that read the file from its start. A record belongs to the range that
holds its first byte: the ranges [a, b) of a split of the file each yield whole records, every
record exactly once. This is the split Megatron-LM's and datatrove's readers align to line
boundaries; a reader reads its range plus the tail of its last record, never the bytes before.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

# A newline after a newline (optionally "\r\n"): the end of a blank line. Lookbehind, so that
# runs of blank lines give a boundary after each and a match never consumes its context.
PARAGRAPH = re.compile(rb"(?:(?<=\n)|(?<=\n\r))\n")
LINE = re.compile(rb"\n")
CONTEXT = 2  # bytes of lookbehind PARAGRAPH needs before a newline
CHUNK = 1 << 20


def read_from(a: int) -> int:
    """The file offset a reader of records from `a` must start reading at (the context)."""
    return max(a - 1 - CONTEXT, 0)


def records(
    chunks: Iterator[bytes], a: int, b: int, sep: re.Pattern
) -> Iterator[tuple[int, int, bytes]]:
    """(start, end, bytes) of the records starting in [a, b); `chunks` is the file from
    `read_from(a)` on. Stops reading at the first boundary at or after b (or the end)."""
    if a >= b:
        return
    off = read_from(a)  # file offset of buf[0]
    buf = b""
    start = 0 if a == 0 else None  # file offset of the record being read
    scan = max(a - 1, 0)  # a separator ending at or after a ends at a newline at or after a - 1
    for chunk in chunks:
        buf += chunk
        while (m := sep.search(buf, scan - off)) is not None:
            end = off + m.end()
            scan = end
            if start is not None:
                yield start, end, buf[start - off : end - off]
            start = end
            if start >= b:
                return
        scan = off + len(buf)
        keep = min(scan - CONTEXT, scan if start is None else start)
        if keep > off:
            buf, off = buf[keep - off :], keep
    if start is not None and start < off + len(buf):
        yield start, off + len(buf), buf[start - off :]
