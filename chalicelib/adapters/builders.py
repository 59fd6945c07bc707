"""The adapters both processes share, built from the settings: job store, object store, indexer.

The API's composition root (``chalicelib.bootstrap``) and the downloader's wiring
(``downloader.wiring``) each build these from one ``Settings``; the rules for how (which job store
backend, which R2 endpoint, which credentials) live here once. Credentials are read when a builder
runs, so a missing one fails only what needs it, with a ``ConfigurationError`` naming the setting.
Each builder imports its adapter when it runs, so a cold Lambda loads only what its route uses.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from chalicelib.adapters.newznab import NewznabClient
    from chalicelib.adapters.objects import ObjectStore
    from chalicelib.adapters.store import Executor, JobStore
    from chalicelib.settings import Settings


def job_executor(settings: Settings) -> Executor:
    """D1 over its HTTP API in production, the embedded SQLite file otherwise."""
    if settings.JOB_STORE == "d1":
        from chalicelib.adapters.store.d1 import D1Executor

        account_id, database_id, token = settings.d1_credentials()
        return D1Executor(
            account_id=account_id,
            database_id=database_id,
            api_token=token,
            base_url=settings.CF_API_BASE_URL,
        )
    from chalicelib.adapters.store.sqlite import SqliteExecutor

    return SqliteExecutor(settings.SQLITE_PATH)


def job_store(settings: Settings, executor: Executor | None = None) -> JobStore:
    from chalicelib.adapters.store import JobStore

    return JobStore(executor or job_executor(settings), cache_seconds=settings.JOB_CACHE_SECONDS)


def object_store(settings: Settings) -> ObjectStore:
    from chalicelib.adapters.objects import ObjectStore

    access_key_id, secret = settings.r2_credentials()
    return ObjectStore(
        bucket=settings.R2_BUCKET,
        endpoint_url=settings.r2_endpoint(),
        access_key_id=access_key_id,
        secret_access_key=secret,
        create_bucket=settings.R2_CREATE_BUCKET,
    )


def indexer(settings: Settings) -> NewznabClient:
    from chalicelib.adapters.newznab import NewznabClient

    return NewznabClient(
        settings.nzbgeek_api_key(),
        base_url=settings.NZBGEEK_BASE_URL,
        timeout=settings.NZBGEEK_TIMEOUT_SECONDS,
    )
