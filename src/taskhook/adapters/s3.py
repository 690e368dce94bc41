"""S3: large result bodies and output files, and presigned download URLs for them."""

from __future__ import annotations

from typing import Any


class S3ObjectStore:
    def __init__(self, client: Any, bucket: str) -> None:
        self._client = client
        self._bucket = bucket

    def put(self, key: str, data: bytes, content_type: str) -> None:
        self._client.put_object(Bucket=self._bucket, Key=key, Body=data, ContentType=content_type)

    def delete_many(self, keys: list[str]) -> None:
        """DeleteObjects (up to 1000 keys; an absent key is no error); Busy when S3 refuses any."""
        from botocore.exceptions import ClientError

        from taskhook.model.errors import Busy

        try:
            answer = self._client.delete_objects(Bucket=self._bucket, Delete={
                "Objects": [{"Key": key} for key in keys], "Quiet": True})
        except ClientError as exc:
            raise Busy(f"objects not deleted: {exc.response.get('Error', {}).get('Code')}") from exc
        if answer.get("Errors"):
            raise Busy(f"{len(answer['Errors'])} objects not deleted")

    def put_file(self, key: str, path: str, content_type: str) -> int:
        """Upload a file (multipart when large, without reading it into memory); its size."""
        self._client.upload_file(path, self._bucket, key, ExtraArgs={"ContentType": content_type})
        head = self._client.head_object(Bucket=self._bucket, Key=key)
        return int(head["ContentLength"])

    def presigned_url(self, key: str, expires_in: int, filename: str | None = None) -> str:
        """A GET URL valid for `expires_in` seconds; with `filename`, browsers save it under that name."""
        params = {"Bucket": self._bucket, "Key": key}
        if filename:
            params["ResponseContentDisposition"] = f'attachment; filename="{filename}"'
        return str(self._client.generate_presigned_url("get_object", Params=params, ExpiresIn=expires_in))
