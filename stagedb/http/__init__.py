"""The HTTP side port: Databend's upload API, presigned URLs and health."""

from stagedb.http.app import build_http_app

__all__ = ["build_http_app"]
