-- The job store's schema: applied as-is to Cloudflare D1 (production) and to the embedded SQLite file.
-- Every statement is idempotent (IF NOT EXISTS), so applying it again is safe.

-- Jobs: the lifecycle of each fetch, shared by the API (Lambda) and the downloader (Fargate).
CREATE TABLE IF NOT EXISTS jobs (
    job_id TEXT PRIMARY KEY,
    movie_id INTEGER NOT NULL,
    status TEXT NOT NULL,
    progress REAL,
    release_title TEXT,
    release_id TEXT,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    ready_at TEXT,
    expires_at TEXT,
    -- when the first HLS segments were published while the movie was still downloading (watch
    -- while it downloads); null when the release could not be streamed
    playable_at TEXT,
    last_watched_at TEXT,
    error_message TEXT,
    -- machine-readable cause of an error (stale, dispatch, queue, usenet_auth, missing_articles,
    -- password, no_video, media, storage, stopped, ...), for the error breakdown in /stats
    error_class TEXT,
    -- JSON list of {release_id, release_title, reason}: releases the downloader passed over (auto
    -- mode tries the ranked candidates in turn), so the job says what it did not fetch and why
    skipped_releases TEXT,
    -- JSON list of sentences: what a person should know about the job that is no failure (a news
    -- server that could not be asked whether the release's articles exist before downloading)
    notes TEXT,
    -- JSON list of {server, articles_fetched, articles_missing, articles_corrupt, bytes, seconds}:
    -- what each Usenet server (host:port, never credentials) did for the job, written when it ends
    servers TEXT,
    -- who wrote the row last: a random token each write sets, so a write resent after its reply was
    -- lost recognises its own success (WHERE ... OR write_token = ?) instead of reading it as lost
    write_token TEXT,
    -- the downloader task working on the job (set by the task itself as its first write), so a
    -- second task started for the same claim finds it taken and exits without touching the job
    worker TEXT,
    -- where the job's signed event is POSTed when it is ready or failed (the fetch's notify_url,
    -- checked then): cleanup and the dispatcher announce the failures they write
    notify_url TEXT,
    -- progress detail written by the downloader (at most every 10 s)
    downloaded_bytes INTEGER,
    total_bytes INTEGER,
    speed_bps REAL,
    eta_seconds INTEGER,
    -- the finished object in R2
    object_key TEXT,
    content_type TEXT,
    size_bytes INTEGER,
    -- JSON written with ready: the audio track chosen (original language, else English) and the
    -- ones available; the subtitles converted to WebVTT (object keys) and those that were not, why
    media TEXT
);

CREATE INDEX IF NOT EXISTS idx_jobs_status ON jobs(status);
CREATE INDEX IF NOT EXISTS idx_jobs_movie_id ON jobs(movie_id);
CREATE INDEX IF NOT EXISTS idx_jobs_expires_at ON jobs(expires_at);
-- Time-to-ready figures over recent days.
CREATE INDEX IF NOT EXISTS idx_jobs_ready_at ON jobs(ready_at);
-- Listing by status newest-first and the stale-job sweep (status + updated_at).
CREATE INDEX IF NOT EXISTS idx_jobs_status_updated ON jobs(status, updated_at);
-- One active job per movie, enforced by the database: D1 over HTTP has no interactive transactions,
-- so "check, then insert" must be a single INSERT that this index can refuse.
CREATE UNIQUE INDEX IF NOT EXISTS ux_jobs_active_movie ON jobs(movie_id)
    WHERE status IN ('queued', 'downloading', 'preparing', 'ready');

-- Watch history: append-only record of what was watched, with enough metadata to show it.
CREATE TABLE IF NOT EXISTS watch_history (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    movie_id INTEGER NOT NULL,
    title TEXT,
    poster_path TEXT,
    last_watched_at TEXT NOT NULL,
    job_id TEXT,
    status TEXT,
    -- where the viewer left off (PUT /movies/{id}/position), seconds into the film; a new watch of
    -- the movie starts from the position of the one before, so a player can always resume
    position_seconds REAL
);

CREATE INDEX IF NOT EXISTS idx_watch_last_watched ON watch_history(last_watched_at DESC);

-- TMDB metadata remembered for movies we fetched, so history and listings need no TMDB call.
CREATE TABLE IF NOT EXISTS movie_metadata (
    movie_id INTEGER PRIMARY KEY,
    title TEXT,
    poster_path TEXT,
    backdrop_path TEXT,
    overview TEXT,
    updated_at TEXT
);
