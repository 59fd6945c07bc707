"""Making a movie of the bytes: par2 (names, verify, repair), unpacking, and the browser-playable remux.

Everything here works on files already on disk; ``ffmpeg`` is the one place that runs ffmpeg and
ffprobe, for this sequential path and for the streaming tail alike.
"""
