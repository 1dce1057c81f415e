"""The :class:`~fittingroom.storage.ObjectStore` on a MinIO (S3) bucket.

The services exchange images and tensors through MinIO (docs/design.md §2). Object storage
can blip — a restart, a dropped connection, a 503 while the server initialises — so
every call is retried with backoff until the policy's deadline; only then, or for an
error that retrying cannot fix (bad credentials, missing bucket), does a typed error
reach the caller. A missing key is :class:`~fittingroom.storage.ObjectNotFoundError`,
exactly as with the local folder store.
"""

from __future__ import annotations

import io
import logging
from typing import Callable, TypeVar

import urllib3
from minio import Minio
from minio.commonconfig import ENABLED, Filter
from minio.error import InvalidResponseError, S3Error, ServerError
from minio.lifecycleconfig import Expiration, LifecycleConfig, Rule

from fittingroom.errors import ObjectNotFoundError, RetryError, StorageError, StorageUnavailableError
from fittingroom.retry import RetryPolicy, retry_call
from fittingroom.storage import _check_key

log = logging.getLogger(__name__)
T = TypeVar("T")

_MISSING_CODES = frozenset({"NoSuchKey", "NoSuchObject", "NotFound"})
_TRANSIENT_CODES = frozenset({
    "InternalError", "ServiceUnavailable", "SlowDown", "RequestTimeout",
    "XMinioServerNotInitialized", "XMinioStorageFull", "OperationTimedOut",
})




def is_transient(err: BaseException) -> bool:
    """True for faults worth retrying: connection trouble, timeouts, 5xx answers."""
    if isinstance(err, S3Error):
        return err.code in _TRANSIENT_CODES or err.response.status >= 500
    if isinstance(err, ServerError):
        return err.status_code >= 500
    if isinstance(err, InvalidResponseError):
        return getattr(err, "_code", 0) >= 500
    return isinstance(err, (urllib3.exceptions.HTTPError, ConnectionError, TimeoutError, OSError))


def _http_client(connect_timeout_s: float, read_timeout_s: float) -> urllib3.PoolManager:
    """A pool without urllib3's own retries: :func:`retry_call` owns retrying."""
    return urllib3.PoolManager(
        timeout=urllib3.Timeout(connect=connect_timeout_s, read=read_timeout_s),
        retries=False,
        maxsize=16,
    )


class MinioStore:
    """An :class:`~fittingroom.storage.ObjectStore` on one MinIO bucket.

    ``endpoint`` is ``host:port`` (no scheme). Writes overwrite, so re-processing a
    message that derives its keys from the request id is idempotent.
    """

    def __init__(
        self,
        endpoint: str,
        access_key: str,
        secret_key: str,
        bucket: str,
        secure: bool = False,
        retry: RetryPolicy | None = None,
        region: str = "us-east-1",
        connect_timeout_s: float = 2.0,
        read_timeout_s: float = 30.0,
    ) -> None:
        self.endpoint = endpoint
        self.bucket = bucket
        self.secure = secure
        self.retry = retry or RetryPolicy()
        self.client = Minio(
            endpoint, access_key=access_key, secret_key=secret_key, secure=secure,
            region=region, http_client=_http_client(connect_timeout_s, read_timeout_s),
        )

    def _call(self, what: str, fn: Callable[[], T]) -> T:
        """Run one S3 operation under the retry policy; map errors to typed ones."""
        def on_retry(attempt: int, err: BaseException, wait: float) -> None:
            log.warning("minio %s failed (attempt %d, retry in %.2fs): %s", what, attempt, wait, err)

        try:
            return retry_call(fn, self.retry, is_transient, on_retry=on_retry)
        except RetryError as err:
            raise StorageUnavailableError(f"{self.describe()}: {what}: {err}") from err
        except S3Error as err:
            if err.code in _MISSING_CODES:
                raise ObjectNotFoundError(err.object_name or what) from None
            raise StorageError(f"{self.describe()}: {what}: {err.code}: {err.message}") from err
        except (ServerError, InvalidResponseError) as err:
            raise StorageError(f"{self.describe()}: {what}: {err}") from err

    def put(self, key: str, data: bytes) -> None:
        """Store ``data`` under ``key``, replacing any previous object."""
        _check_key(key)
        self._call(f"put {key}", lambda: self.client.put_object(
            self.bucket, key, io.BytesIO(data), len(data),
            content_type="application/octet-stream",
        ))

    def get(self, key: str) -> bytes:
        """The bytes under ``key``; :class:`ObjectNotFoundError` if there are none."""
        _check_key(key)

        def read() -> bytes:
            response = self.client.get_object(self.bucket, key)
            try:
                return response.read()
            finally:
                response.close()
                response.release_conn()

        try:
            return self._call(f"get {key}", read)
        except ObjectNotFoundError:
            raise ObjectNotFoundError(key) from None

    def size(self, key: str) -> int:
        """Bytes stored under ``key`` (a HEAD request); :class:`ObjectNotFoundError` if none."""
        _check_key(key)
        try:
            stat = self._call(f"stat {key}", lambda: self.client.stat_object(self.bucket, key))
        except ObjectNotFoundError:
            raise ObjectNotFoundError(key) from None
        return int(stat.size or 0)

    def exists(self, key: str) -> bool:
        """Whether an object is stored under ``key``."""
        _check_key(key)
        try:
            self._call(f"stat {key}", lambda: self.client.stat_object(self.bucket, key))
        except ObjectNotFoundError:
            return False
        return True

    def list(self, prefix: str = "") -> list[str]:
        """Sorted keys starting with ``prefix`` (whole listing retried as one call)."""
        return self._call(f"list {prefix!r}", lambda: sorted(
            obj.object_name for obj in self.client.list_objects(self.bucket, prefix=prefix, recursive=True)
            if obj.object_name is not None
        ))

    def ensure_bucket(self) -> None:
        """Create the bucket when it does not exist yet (idempotent)."""
        def create() -> None:
            if self.client.bucket_exists(self.bucket):
                return
            try:
                self.client.make_bucket(self.bucket)
            except S3Error as err:
                if err.code not in ("BucketAlreadyOwnedByYou", "BucketAlreadyExists"):
                    raise

        self._call(f"create bucket {self.bucket}", create)

    def set_expiry_days(self, days: int, rule_id: str = "expire-all") -> None:
        """Let MinIO delete every object of the bucket ``days`` days after its upload.

        Request inputs and intermediate tensors are only needed while a request is in
        flight; the rule bounds the bucket's size without a cleanup job.
        """
        if days < 1:
            raise ValueError("expiry must be at least one day")
        config = LifecycleConfig([Rule(ENABLED, rule_filter=Filter(prefix=""), rule_id=rule_id,
                                       expiration=Expiration(days=days))])
        self._call(f"set lifecycle of {self.bucket}",
                   lambda: self.client.set_bucket_lifecycle(self.bucket, config))

    def expiry_days(self) -> int | None:
        """Days after which objects expire, per the bucket's lifecycle; None if never."""
        config = self._call(f"get lifecycle of {self.bucket}",
                            lambda: self.client.get_bucket_lifecycle(self.bucket))
        days = [rule.expiration.days for rule in (config.rules if config else [])
                if rule.status == ENABLED and rule.expiration and rule.expiration.days]
        return min(days) if days else None

    def describe(self) -> str:
        scheme = "https" if self.secure else "http"
        return f"minio:{scheme}://{self.endpoint}/{self.bucket}"


def store_at(uri: str) -> tuple[MinioStore, str]:
    """The bucket and key prefix ``s3://<bucket>[/<prefix>]`` names, reached with the FITTINGROOM_S3_* settings."""
    from fittingroom.errors import SettingsError
    from fittingroom.settings import Settings

    bucket, _, prefix = uri.removeprefix("s3://").partition("/")
    if not uri.startswith("s3://") or not bucket:
        raise SettingsError(f"{uri!r}: expected s3://<bucket>[/<prefix>]")
    settings = Settings.from_env()
    if not settings.s3_endpoint:
        raise SettingsError(f"{uri}: set FITTINGROOM_S3_ENDPOINT (and the S3 keys) to reach it")
    access_key, secret_key = settings.s3_credentials()
    store = MinioStore(settings.s3_endpoint, access_key, secret_key, bucket, secure=settings.s3_secure)
    return store, prefix.strip("/")
