"""Object storage (Cloudflare R2, or any S3-compatible endpoint) through boto3: the one adapter.

The API presigns, heads, lists and deletes here; the downloader's uploads (sequential and streamed)
use the multipart calls here too, so every S3 operation, its error handling and its logging live in
one module. boto3 is imported on first use, not at module import, so the discovery endpoints' cold
starts never pay for it. The client follows R2's rules: region ``auto``, SigV4, and checksums only
"when required" (boto3 >= 1.36 otherwise adds CRC trailers that R2 rejects).
"""

from __future__ import annotations

import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from chalicelib.adapters.aws_calls import error_code, http_status, log_calls
from chalicelib.errors import StorageError
from chalicelib.logs import logger

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client
    from mypy_boto3_s3.type_defs import CompletedPartTypeDef


@dataclass(frozen=True)
class ObjectInfo:
    key: str
    size_bytes: int
    content_type: str


@dataclass(frozen=True)
class Deleted:
    objects: int
    bytes: int


@dataclass(frozen=True)
class OpenUpload:
    """A multipart upload begun and neither completed nor aborted."""

    key: str
    upload_id: str


class ObjectStore:
    def __init__(
        self,
        *,
        bucket: str,
        endpoint_url: str,
        access_key_id: str,
        secret_access_key: str,
        create_bucket: bool = False,
        client: S3Client | None = None,
    ) -> None:
        self.bucket = bucket
        self._endpoint_url = endpoint_url
        self._credentials = (access_key_id, secret_access_key)
        self._create_bucket = create_bucket
        self._client = client
        self._lock = threading.Lock()

    @property
    def client(self) -> S3Client:
        with self._lock:
            if self._client is None:
                self._client = self._new_client()
                if self._create_bucket:
                    self._ensure_bucket(self._client)
            return self._client

    def _new_client(self) -> S3Client:
        import boto3
        from botocore.config import Config

        client = boto3.client(
            "s3",
            endpoint_url=self._endpoint_url,
            region_name="auto",
            aws_access_key_id=self._credentials[0],
            aws_secret_access_key=self._credentials[1],
            config=Config(
                signature_version="s3v4",
                request_checksum_calculation="when_required",
                response_checksum_validation="when_required",
                retries={"total_max_attempts": 3, "mode": "standard"},  # 1 try + 2 retries
                connect_timeout=5,
                read_timeout=30,
            ),
        )
        return log_calls(client, "r2")

    def _ensure_bucket(self, client: S3Client) -> None:
        try:
            client.head_bucket(Bucket=self.bucket)
        except Exception:
            # R2 (and S3 stand-ins) accept "auto"; region-less CreateBucket is refused off us-east-1.
            location: Any = {"LocationConstraint": "auto"}  # R2's region, unknown to the stubs
            try:
                client.create_bucket(Bucket=self.bucket, CreateBucketConfiguration=location)
            except Exception as exc:
                # Several processes starting at once (make run's downloaders) race to create it.
                if error_code(exc) not in {"BucketAlreadyOwnedByYou", "BucketAlreadyExists"}:
                    raise

    def head(self, key: str) -> ObjectInfo | None:
        """Size and type of an object, or None when it does not exist."""
        try:
            reply = self.client.head_object(Bucket=self.bucket, Key=key)
        except Exception as exc:
            if http_status(exc) == 404:
                return None
            raise _storage_error("read", exc) from None
        return ObjectInfo(
            key=key,
            size_bytes=int(reply["ContentLength"]),
            content_type=reply.get("ContentType") or "application/octet-stream",
        )

    def first_key(self, prefix: str) -> str | None:
        """The first object under ``prefix`` (for jobs whose row lacks its object key)."""
        try:
            reply = self.client.list_objects_v2(Bucket=self.bucket, Prefix=prefix, MaxKeys=1)
        except Exception as exc:
            raise _storage_error("list", exc) from None
        contents = reply.get("Contents") or []
        return contents[0]["Key"] if contents else None

    def presign_get(self, key: str, expires_seconds: int) -> str:
        try:
            return self.client.generate_presigned_url(
                "get_object", Params={"Bucket": self.bucket, "Key": key}, ExpiresIn=expires_seconds
            )
        except Exception as exc:
            raise _storage_error("sign a URL for", exc) from None

    def delete_prefix(self, prefix: str) -> Deleted:
        """Delete every object under ``prefix`` (1,000 per request); idempotent."""
        count = size = 0
        try:
            paginator = self.client.get_paginator("list_objects_v2")
            for page in paginator.paginate(Bucket=self.bucket, Prefix=prefix):
                contents = page.get("Contents") or []
                if not contents:
                    continue
                reply = self.client.delete_objects(
                    Bucket=self.bucket,
                    Delete={"Objects": [{"Key": o["Key"]} for o in contents], "Quiet": True},
                )
                if reply.get("Errors"):
                    first = reply["Errors"][0]
                    raise StorageError(
                        f"object storage refused to delete {first.get('Key')}: "
                        f"{first.get('Code')} {first.get('Message', '')}".strip()
                    )
                count += len(contents)
                size += sum(int(o.get("Size", 0)) for o in contents)
        except StorageError:
            raise
        except Exception as exc:
            raise _storage_error("delete", exc) from None
        return Deleted(objects=count, bytes=size)

    def put(self, key: str, body: bytes, *, content_type: str, cache_control: str) -> None:
        """Store a small object in one request (HLS segments and playlists)."""
        try:
            self.client.put_object(
                Bucket=self.bucket,
                Key=key,
                Body=body,
                ContentType=content_type,
                CacheControl=cache_control,
            )
        except Exception as exc:
            raise _storage_error("store", exc) from None

    def get(self, key: str) -> bytes | None:
        """A small object's bytes (an HLS playlist), or None when it does not exist."""
        try:
            reply = self.client.get_object(Bucket=self.bucket, Key=key)
            return bytes(reply["Body"].read())
        except Exception as exc:
            if http_status(exc) == 404 or error_code(exc) == "NoSuchKey":
                return None
            raise _storage_error("read", exc) from None

    def delete(self, key: str) -> None:
        """Delete one object (S3 answers success for a key that is already gone)."""
        try:
            self.client.delete_object(Bucket=self.bucket, Key=key)
        except Exception as exc:
            raise _storage_error("delete", exc) from None

    # -- multipart uploads: the downloader's movie, sent part by part ---------------------------

    def begin_upload(
        self, key: str, *, content_type: str, metadata: Mapping[str, str] | None = None
    ) -> str:
        """Start a multipart upload; returns its id. The caller completes or aborts it."""
        try:
            reply = self.client.create_multipart_upload(
                Bucket=self.bucket, Key=key, ContentType=content_type, Metadata=dict(metadata or {})
            )
        except Exception as exc:
            raise _storage_error("start the upload of", exc) from None
        return reply["UploadId"]

    def send_part(self, key: str, upload_id: str, number: int, body: bytes) -> str:
        """Send part ``number`` (1-based; sending a number again replaces it); returns its ETag."""
        try:
            reply = self.client.upload_part(
                Bucket=self.bucket, Key=key, UploadId=upload_id, PartNumber=number, Body=body
            )
        except Exception as exc:
            raise _storage_error(f"store part {number} of", exc) from None
        return str(reply["ETag"])

    def complete_upload(
        self, key: str, upload_id: str, parts: Sequence[CompletedPartTypeDef]
    ) -> None:
        """Assemble the object from ``parts`` (number and ETag of each, in order)."""
        try:
            self.client.complete_multipart_upload(
                Bucket=self.bucket,
                Key=key,
                UploadId=upload_id,
                MultipartUpload={"Parts": list(parts)},
            )
        except Exception as exc:
            raise _storage_error("complete the upload of", exc) from None

    def abort_upload(self, key: str, upload_id: str) -> None:
        """Abort a multipart upload so its parts stop billing storage; already gone is fine."""
        try:
            self.client.abort_multipart_upload(Bucket=self.bucket, Key=key, UploadId=upload_id)
        except Exception as exc:
            if error_code(exc) == "NoSuchUpload":
                return
            raise _storage_error("abort the upload of", exc) from None

    def open_uploads(self, prefix: str) -> list[OpenUpload]:
        """Multipart uploads under ``prefix`` still open (neither completed nor aborted)."""
        try:
            reply = self.client.list_multipart_uploads(Bucket=self.bucket, Prefix=prefix)
        except Exception as exc:
            raise _storage_error("list the uploads of", exc) from None
        return [
            OpenUpload(str(item.get("Key")), str(item.get("UploadId")))
            for item in reply.get("Uploads") or []
        ]


def _storage_error(action: str, exc: Exception) -> StorageError:
    """A client-safe error: the S3 error code, never the request (which carries a signature)."""
    code = error_code(exc)
    logger.error("object storage error", extra={"action": action, "error_type": type(exc).__name__})
    return StorageError(
        f"object storage could not {action} the object ({code or type(exc).__name__})"
    )
