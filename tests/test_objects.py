"""The object store's bucket bootstrap (``R2_CREATE_BUCKET``, local runs) under concurrent starts."""

from __future__ import annotations

from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from moto import mock_aws

from chalicelib.adapters.objects import ObjectStore
from tests.conftest import R2_ENDPOINT

BUCKET = "movies-race"


def test_a_process_that_loses_the_race_to_create_the_bucket_carries_on(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """make run starts several downloaders at once: each sees no bucket, all but one then hear
    'already owned by you' from CreateBucket, which must not crash them."""
    monkeypatch.setenv("MOTO_S3_CUSTOM_ENDPOINTS", R2_ENDPOINT)
    store = ObjectStore(
        bucket=BUCKET,
        endpoint_url=R2_ENDPOINT,
        access_key_id="k",
        secret_access_key="s",
        create_bucket=True,
    )
    new_client = store._new_client

    def client_that_looked_too_early() -> Any:
        client = new_client()

        def head_bucket(**kwargs: Any) -> Any:
            other = boto3.client("s3", endpoint_url=R2_ENDPOINT, region_name="auto")
            other.create_bucket(  # the winner creates it between our HEAD and our CREATE
                Bucket=BUCKET,
                CreateBucketConfiguration={"LocationConstraint": "auto"},  # type: ignore[typeddict-item]
            )
            raise ClientError({"Error": {"Code": "404"}}, "HeadBucket")

        client.head_bucket = head_bucket  # type: ignore[method-assign]
        return client

    monkeypatch.setattr(store, "_new_client", client_that_looked_too_early)
    with mock_aws():
        store.client.put_object(Bucket=BUCKET, Key="movies/x/movie.mp4", Body=b"x")

        assert store.head("movies/x/movie.mp4") is not None
