"""Stage rules that need no server: names, masking, LIKE, file formats, URLs."""

from __future__ import annotations

import pytest

from stagedb.errors import BadArguments, StagePermissionDenied, StorageUnsupported
from stagedb.stages import (
    check_stage_name,
    file_format_options,
    like_to_regex,
    mask_secret,
    masked_connection,
)
from stagedb.storage.external import (
    canonical_connection,
    external_filesystem,
    normalize_external_url,
)
from stagedb.storage.paths import check_file_path, check_relative_path


@pytest.mark.parametrize(
    ("value", "masked"),
    [("mysecretkey", "my***ey"), ("12345", "12***45"), ("1234", "***"), ("", "***")],
)
def test_secrets_are_masked_as_databend_does(value: str, masked: str) -> None:
    assert mask_secret(value) == masked


def test_only_secret_keys_are_masked() -> None:
    shown = masked_connection(
        {"endpoint_url": "http://127.0.0.1:9000", "secret_access_key": "CHANGEME123",
         "access_key_id": "ROOTUSER", "region": "us-east-1"}
    )  # fmt: skip
    assert shown == {
        "access_key_id": "RO***ER", "endpoint_url": "http://127.0.0.1:9000",
        "region": "us-east-1", "secret_access_key": "CH***23",
    }  # fmt: skip


@pytest.mark.parametrize(
    ("pattern", "matches", "misses"),
    [
        ("my%", ["my_stage", "MY", "My Stage"], ["amy"]),
        ("s_", ["s1", "S2"], ["s", "s12"]),
        ("a\\_b", ["a_b"], ["axb"]),
        ("100\\%", ["100%"], ["1000"]),
        ("a.b", ["a.b"], ["axb"]),
    ],
)
def test_like_patterns(pattern: str, matches: list[str], misses: list[str]) -> None:
    regex = like_to_regex(pattern)
    assert all(regex.fullmatch(m) for m in matches)
    assert not any(regex.fullmatch(m) for m in misses)


@pytest.mark.parametrize("name", ["s", "_s", "S$1", "my_stage_2"])
def test_valid_stage_names(name: str) -> None:
    assert check_stage_name(name, "created") == name


@pytest.mark.parametrize("name", ["@s", "1s", "a-b", "a b", "", "s/t", "é"])
def test_invalid_stage_names(name: str) -> None:
    with pytest.raises(BadArguments):
        check_stage_name(name, "created")


def test_the_user_stage_cannot_be_created() -> None:
    with pytest.raises(StagePermissionDenied) as caught:
        check_stage_name("~", "created")
    assert str(caught.value) == (
        "StagePermissionDenied. Code: 2506, Text = The user stage '~' cannot be created."
    )


def test_file_format_options() -> None:
    assert file_format_options({}) == {"type": "PARQUET"}
    assert file_format_options({"TYPE": "csv", "SKIP_HEADER": "1"}) == {
        "type": "CSV", "skip_header": "1",
    }  # fmt: skip
    with pytest.raises(BadArguments, match="Unknown FILE_FORMAT TYPE 'XLS'"):
        file_format_options({"TYPE": "XLS"})


@pytest.mark.parametrize(
    ("url", "canonical"),
    [
        ("fs:///data/x/", "fs:///data/x/"),
        ("fs:///data/x", "fs:///data/x/"),
        ("FS:///data//x/", "fs:///data/x/"),
        ("file:///data/x", "file:///data/x/"),
        ("fs:///", "fs:///"),
        ("s3://bucket", "s3://bucket/"),
        ("s3://bucket/a//b", "s3://bucket/a/b/"),
        ("S3://bucket/prefix/", "s3://bucket/prefix/"),
        ("gs://b/p", "gs://b/p/"),
    ],
)
def test_local_urls_are_normalized(url: str, canonical: str) -> None:
    assert normalize_external_url(url)[1] == canonical


@pytest.mark.parametrize(
    ("url", "error"),
    [
        ("/tmp/x/", BadArguments),
        ("file://x", BadArguments),
        ("fs://host/x/", BadArguments),
        ("fs:///a/../b/", BadArguments),
        ("s3:///prefix/", BadArguments),
        ("hdfs://host/x/", StorageUnsupported),
        ("ftp://host/x/", StorageUnsupported),
    ],
)
def test_bad_urls(url: str, error: type[Exception]) -> None:
    with pytest.raises(error):
        normalize_external_url(url)


def test_connection_keys_resolve_databend_aliases() -> None:
    options = {"AWS_KEY_ID": "a", "aws_secret_key": "b", "Endpoint_URL": "c", "aws_token": "d"}
    assert canonical_connection("s3://b/", options) == {
        "access_key_id": "a", "secret_access_key": "b", "endpoint_url": "c", "session_token": "d",
    }  # fmt: skip
    unknown = r"Unknown CONNECTION option\(s\) COLOUR for s3:// stages"
    with pytest.raises(BadArguments, match=unknown):
        canonical_connection("s3://b/", {"colour": "red"})
    with pytest.raises(BadArguments, match="accepted: none"):
        canonical_connection("fs:///x/", {"region": "x"})


def test_missing_extras_are_named() -> None:
    import importlib.util

    if importlib.util.find_spec("gcsfs") is not None:
        pytest.skip("gcsfs is installed")
    with pytest.raises(StorageUnsupported, match=r"install stagedb\[gcs\]"):
        external_filesystem("gs://bucket/p/", {})


@pytest.mark.parametrize("path", ["../x", "a/../../b", "/etc/passwd", "a\\b", "a\x00b"])
def test_paths_never_escape_a_stage(path: str) -> None:
    with pytest.raises(BadArguments):
        check_relative_path(path)
    with pytest.raises(BadArguments):
        check_file_path(path)


@pytest.mark.parametrize("path", ["", "dir/", "a//b", "./a", ".stagedb-tmp-x"])
def test_file_paths_name_files(path: str) -> None:
    with pytest.raises(BadArguments):
        check_file_path(path)
