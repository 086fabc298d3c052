"""TLS on both ports with a certificate made by the test: pymysql, the mysql CLI, curl."""

from __future__ import annotations

import os
import ssl
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pymysql
import pytest
from conftest import ServerProcess, mysql_cli, start_server
from transporttools import Certificates, curl, make_certificates

PASSWORD = "tls-test-pw"


@pytest.fixture
def certs(tmp_path: Path) -> Certificates:
    directory = tmp_path / "certs"
    directory.mkdir()
    return make_certificates(directory)


def tls_server(data_dir: Path, certs: Certificates, *extra: str) -> ServerProcess:
    return start_server(str(data_dir), *certs.server_flags(), "--root-password", PASSWORD, *extra)


@pytest.fixture
def server(data_dir: Path, certs: Certificates) -> Iterator[ServerProcess]:
    proc = tls_server(data_dir, certs)
    try:
        yield proc
    finally:
        proc.stop()


@pytest.fixture
def strict_server(data_dir: Path, certs: Certificates) -> Iterator[ServerProcess]:
    proc = tls_server(data_dir, certs, "--require-tls")
    try:
        yield proc
    finally:
        proc.stop()


def connect(server: ServerProcess, **kwargs: object) -> pymysql.connections.Connection:
    return server.connect(password=PASSWORD, **kwargs)


def https(server: ServerProcess, path: str) -> str:
    return f"https://127.0.0.1:{server.http_port}{path}"


def test_banner_says_tls_is_on(server: ServerProcess, strict_server: ServerProcess) -> None:
    text = "".join(server.output)
    assert f"MySQL protocol: 127.0.0.1:{server.mysql_port} (TLS available)" in text
    assert f"HTTP: 127.0.0.1:{server.http_port} (HTTPS)" in text
    assert "(TLS required)" in "".join(strict_server.output)


def test_banner_says_tls_is_off_without_a_certificate(data_dir: Path) -> None:
    proc = start_server(str(data_dir))
    try:
        text = "".join(proc.output)
        assert "(TLS off)" in text and "(HTTP)" in text
    finally:
        proc.stop()


def test_pymysql_over_tls_verifies_the_certificate(
    server: ServerProcess, certs: Certificates
) -> None:
    with connect(server, ssl={"ca": str(certs.ca)}) as conn:  # checks the name too
        sock = conn._sock
        assert isinstance(sock, ssl.SSLSocket)
        assert sock.version() in ("TLSv1.2", "TLSv1.3")
        with conn.cursor() as cur:
            cur.execute("CREATE STAGE over_tls")
            cur.execute("SHOW STAGES")
            assert [row[0] for row in cur.fetchall()] == ["over_tls"]


def test_pymysql_refuses_a_server_whose_certificate_it_does_not_trust(
    server: ServerProcess, tmp_path: Path
) -> None:
    other = tmp_path / "other"
    other.mkdir()
    stranger = make_certificates(other)
    with pytest.raises(pymysql.err.OperationalError) as caught:
        connect(server, ssl={"ca": str(stranger.ca)})
    assert "CERTIFICATE_VERIFY_FAILED" in str(caught.value)


def test_plaintext_logins_still_work_unless_tls_is_required(server: ServerProcess) -> None:
    with connect(server, ssl_disabled=True) as conn, conn.cursor() as cur:
        assert not isinstance(conn._sock, ssl.SSLSocket)
        cur.execute("SELECT 1")
        assert cur.fetchall() == ((1,),)


def test_require_tls_refuses_plaintext_logins_with_3159(
    strict_server: ServerProcess, certs: Certificates
) -> None:
    with pytest.raises(pymysql.err.OperationalError) as caught:
        connect(strict_server, ssl_disabled=True)
    errno, message = caught.value.args
    assert errno == 3159
    assert message == (
        "Connections using insecure transport are prohibited while --require_secure_transport=ON."
    )
    with pytest.raises(pymysql.err.OperationalError) as wrong_user:  # before any password check
        strict_server.connect(user="nobody", password="x", ssl_disabled=True)
    assert wrong_user.value.args[0] == 3159
    with connect(strict_server, ssl={"ca": str(certs.ca)}) as conn, conn.cursor() as cur:
        cur.execute("SELECT 1")
        assert cur.fetchall() == ((1,),)
    with connect(strict_server) as conn:  # pymysql's default: TLS when the server offers it
        assert isinstance(conn._sock, ssl.SSLSocket)


def mysql_cli_run(server: ServerProcess, *args: str) -> subprocess.CompletedProcess[str]:
    command = [mysql_cli() or "mysql", "-h", "127.0.0.1", "-P", str(server.mysql_port),
               "-u", "root", f"-p{PASSWORD}", "--batch", *args]  # fmt: skip
    return subprocess.run(command, capture_output=True, text=True, timeout=60)


def test_mysql_cli_over_tls(strict_server: ServerProcess, certs: Certificates) -> None:
    result = mysql_cli_run(
        strict_server, "--ssl", f"--ssl-ca={certs.ca}", "--ssl-verify-server-cert",
        "-e", "CREATE STAGE from_cli; SHOW STAGES LIKE 'from_cli'",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "from_cli" in result.stdout
    plain = mysql_cli_run(strict_server, "--skip-ssl", "-e", "SELECT 1")
    assert plain.returncode != 0
    assert "3159" in plain.stderr and "insecure transport" in plain.stderr


def test_curl_over_https(server: ServerProcess, certs: Certificates, tmp_path: Path) -> None:
    health = curl("--cacert", str(certs.ca), https(server, "/v1/health"), cwd=tmp_path)
    assert health.exit_code == 0, health.stderr
    assert health.status == 200
    assert health.json() == {"status": "ok", "version": __import__("stagedb").__version__}
    (tmp_path / "a.csv").write_text("1,2\n")
    upload = curl(
        "--cacert", str(certs.ca), "-u", f"root:{PASSWORD}", "-H", "stage_name:~",
        "-F", "upload=@a.csv", "-XPUT", https(server, "/v1/upload_to_stage"), cwd=tmp_path,
    )  # fmt: skip
    assert upload.status == 200, upload
    assert connect(server).cursor().execute("LIST @~") == 1


def test_plaintext_http_to_the_https_port_gets_no_answer(
    server: ServerProcess, tmp_path: Path
) -> None:
    plain = curl(f"http://127.0.0.1:{server.http_port}/v1/health", cwd=tmp_path)
    assert plain.exit_code != 0 and plain.status == 0


def test_curl_refuses_the_certificate_without_the_ca(server: ServerProcess, tmp_path: Path) -> None:
    untrusted = curl(https(server, "/v1/health"), cwd=tmp_path)
    assert untrusted.exit_code == 60  # curl: peer certificate cannot be authenticated


def test_presigned_urls_use_https(
    server: ServerProcess, certs: Certificates, tmp_path: Path
) -> None:
    with connect(server) as conn, conn.cursor() as cur:
        cur.execute("CREATE STAGE s")
        cur.execute("PRESIGN UPLOAD @s/in/data.csv")
        (method, _headers, url), *_ = cur.fetchall()
        assert method == "PUT"
        assert url.startswith(f"https://127.0.0.1:{server.http_port}/v1/presigned/s/in/data.csv?")
        (tmp_path / "data.csv").write_text("x,y\n")
        put = curl("--cacert", str(certs.ca), "-T", "data.csv", url, cwd=tmp_path)
        assert put.status == 200, put
        cur.execute("PRESIGN @s/in/data.csv")
        (_method, _headers, download), *_ = cur.fetchall()
        got = curl("--cacert", str(certs.ca), download, cwd=tmp_path)
        assert got.status == 200 and got.body == b"x,y\n"


def run_serve(data_dir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    environment = {k: v for k, v in os.environ.items() if not k.startswith("STAGEDB_")}
    command = [sys.executable, "-m", "stagedb", "serve", "--mysql-port", "0", "--http-port", "0",
               "--data", str(data_dir), *args]  # fmt: skip
    return subprocess.run(command, capture_output=True, text=True, timeout=60, env=environment)


def test_tls_settings_that_cannot_work_refuse_to_start(data_dir: Path, certs: Certificates) -> None:
    cases = {
        ("--tls-cert", str(certs.cert)): "both --tls-cert and --tls-key",
        ("--tls-key", str(certs.key)): "both --tls-cert and --tls-key",
        ("--require-tls",): "--require-tls needs a certificate",
        ("--tls-cert", str(certs.cert), "--tls-key", str(data_dir / "missing.key")): "no such file",
        ("--tls-cert", str(certs.key), "--tls-key", str(certs.cert)): "PEM files",
        ("--tls-cert", str(certs.ca), "--tls-key", str(certs.key)): "PEM files",  # key mismatch
    }
    key_text = certs.key.read_text().splitlines()[1]
    for args, expected in cases.items():
        result = run_serve(data_dir, *args)
        assert result.returncode != 0, args
        assert expected in result.stderr, (args, result.stderr)
        assert "InvalidConfig" in result.stderr
        assert key_text not in result.stderr + result.stdout  # the key's contents never show


def test_tls_from_environment_and_config_file(
    data_dir: Path, certs: Certificates, tmp_path: Path
) -> None:
    config = tmp_path / "stagedb.toml"
    config.write_text(f'tls_cert = "{certs.cert}"\ntls_key = "{certs.key}"\nrequire_tls = true\n')
    proc = start_server(str(data_dir), "--config", str(config), "--root-password", PASSWORD)
    try:
        assert "(TLS required)" in "".join(proc.output)
    finally:
        proc.stop()
    env = {"STAGEDB_TLS_CERT": str(certs.cert), "STAGEDB_TLS_KEY": str(certs.key)}
    proc = start_server(str(data_dir), "--root-password", PASSWORD, env=env)
    try:
        assert "(TLS available)" in "".join(proc.output)
        with connect(proc, ssl={"ca": str(certs.ca)}) as conn:
            assert isinstance(conn._sock, ssl.SSLSocket)
    finally:
        proc.stop()
