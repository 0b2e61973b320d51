"""Payload-only sizes of baseline files: the bytes left once the container/headers are removed.

At 0.1 bpp a Kodak image gets ~4.9 KB, of which an AVIF/HEIF container takes 300-450 B, so
results report both sizes. Each parser is a cheap walk over the top-level structure; any file it
does not understand gives None (reported as unknown) rather than a wrong number.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from typing import Optional


def _marker_segments(data: bytes) -> Iterator[tuple[int, int, int]]:
    """(marker, start, end) of each segment of a JPEG or JPEG 2000 codestream after its start
    marker: FF, the marker, a 16-bit length; fill bytes (FF FF) are skipped. Stops at the end
    or at a byte that starts no marker."""
    position = 2
    while position + 4 <= len(data):
        if data[position] != 0xFF:
            return
        marker = data[position + 1]
        if marker == 0xFF:  # fill byte
            position += 1
            continue
        (length,) = struct.unpack(">H", data[position + 2:position + 4])
        yield marker, position, position + 2 + length
        position += 2 + length


def _up_to_end_marker(data: bytes, position: int) -> int:
    """Bytes from `position` to the end, less a final FFD9 (JPEG's EOI, JPEG 2000's EOC)."""
    end = len(data) - 2 if data[-2:] == b"\xff\xd9" else len(data)
    return max(0, end - position)


def jpeg_payload(data: bytes) -> Optional[int]:
    """Entropy-coded bytes: everything after the first SOS header, minus the EOI marker."""
    if data[:2] != b"\xff\xd8":
        return None
    for marker, _, end in _marker_segments(data):
        if marker == 0xDA:  # SOS: scan data follows its header
            return _up_to_end_marker(data, end)
    return None


def webp_payload(data: bytes) -> Optional[int]:
    """Size of the VP8/VP8L bitstream chunk inside the RIFF container."""
    if data[:4] != b"RIFF" or data[8:12] != b"WEBP":
        return None
    position, payload = 12, 0
    while position + 8 <= len(data):
        fourcc = data[position:position + 4]
        (size,) = struct.unpack("<I", data[position + 4:position + 8])
        if fourcc in (b"VP8 ", b"VP8L", b"ALPH"):
            payload += size
        position += 8 + size + (size & 1)
    return payload or None


def isobmff_payload(data: bytes) -> Optional[int]:
    """Content of the `mdat` boxes of an AVIF/HEIF file (the coded image; `meta` is overhead)."""
    position, payload, seen = 0, 0, False
    while position + 8 <= len(data):
        size, kind = struct.unpack(">I4s", data[position:position + 8])
        header = 8
        if size == 1:
            if position + 16 > len(data):
                return None
            (size,) = struct.unpack(">Q", data[position + 8:position + 16])
            header = 16
        elif size == 0:
            size = len(data) - position
        if size < header:
            return None
        if kind == b"mdat":
            payload += size - header
            seen = True
        position += size
    return payload if seen else None


def j2k_payload(data: bytes) -> Optional[int]:
    """Raw JPEG 2000 codestream minus its main header and EOC: the tile-parts."""
    if data[:2] != b"\xff\x4f":  # SOC
        return None
    for marker, start, _ in _marker_segments(data):
        if marker == 0x90:  # first SOT: the main header ends here
            return _up_to_end_marker(data, start)
    return None
