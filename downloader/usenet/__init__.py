"""Getting the bytes: NZB → articles → decoded files on disk (SABnzbd's downloader/decoder/assembler).

``nzb`` reads the list of articles, ``servers`` the news servers, ``nntp`` is one connection,
``scheduler`` decides which article goes to which server, ``engine`` runs the connections and
``writer`` puts each decoded part at its offset. ``availability`` samples a release before any of it
is fetched; ``progress`` turns the engine's counters into speed and ETA.
"""
