"""A stored RAR volume's slice of the movie, in whichever format its bytes say (RAR5 or RAR4)."""

from __future__ import annotations

from downloader.streaming import rar4_slices, rar5_slices
from downloader.streaming.rar5_slices import Slice

SIGNATURES = (rar5_slices.SIGNATURE, rar4_slices.SIGNATURE)


def read_slice(head: bytes) -> Slice:
    """``rar5_slices.read_slice`` or ``rar4_slices.read_slice``, by the volume's signature."""
    if head.startswith(rar4_slices.SIGNATURE):
        return rar4_slices.read_slice(head)
    return rar5_slices.read_slice(head)
