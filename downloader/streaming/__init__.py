"""The streaming tail: remux and upload the movie while it is still downloading, when that is safe.

``plan`` decides from the files' first bytes whether a release can take the tail, ``rar5_slices``
and ``rar4_slices`` find a stored set's movie in its volumes and ``movie_bytes`` reads it out of them in
order, ``watermark`` says how far each file is
final, ``growing_files`` reads only those bytes, ``resume`` finds the files again after par2's
repair so the tail reads on past a gap, ``growing_upload`` sends the MP4's parts as ffmpeg writes
them and ``tail`` ties them together. Any doubt raises
``NotStreamable`` and the pipeline takes the sequential path (``downloader.post``).
"""


class NotStreamable(Exception):
    """This release (or this moment of its download) cannot be streamed; the message says why and
    the pipeline falls back to downloading, verifying, unpacking and remuxing one after the other."""


class WrongBytes(NotStreamable):
    """Bytes already streamed were not the movie's: a volume's data or the whole file did not
    match its CRC, or a RAR4 volume's end said another place than the one it was streamed in.
    What was published from them (the HLS) must come down, not only the stream stop."""


class PasswordProtected(NotStreamable):
    """The release's archive is encrypted (its headers or its file): no one can unpack it without
    a password we do not have, so the job fails at once rather than after the whole download."""
