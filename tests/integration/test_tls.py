"""HTTPS from `bentoml serve --ssl-certfile --ssl-keyfile`, with a certificate the test makes."""

from __future__ import annotations

import datetime
import ipaddress
import socket
import ssl
import time
from pathlib import Path

import pytest
import requests
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from scripts.tools.harness.bento_process import BentoServer

pytestmark = pytest.mark.integration

KEY = "tls-test-key-5e19"
GOOD = {
    "sepal_length_cm": 5.1,
    "sepal_width_cm": 3.5,
    "petal_length_cm": 1.4,
    "petal_width_cm": 0.2,
}


def self_signed_certificate(folder: Path) -> tuple[Path, Path]:
    """Write a one-day self-signed certificate for 127.0.0.1 and its key; return both paths."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        # Clients check the address against the subject alternative name, not the CN.
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = folder / "server.crt", folder / "server.key"
    cert_path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    key_path.chmod(0o600)
    return cert_path, key_path


@pytest.fixture(scope="module")
def server(iris_run, tmp_path_factory):
    folder = tmp_path_factory.mktemp("tls")
    cert, key = self_signed_certificate(folder)
    args = ["--ssl-certfile", str(cert), "--ssl-keyfile", str(key)]
    env = {"MODEL_TAG": iris_run.tag, "API_KEYS": KEY, "HEADER_TIMEOUT_SECONDS": "2"}
    with BentoServer(env, folder / "server.log", extra_args=args, https_ca=cert) as running:
        running.cert = cert
        yield running


def test_predict_over_https_verifies_against_the_certificate(server):
    assert server.url.startswith("https://127.0.0.1:")
    response = requests.post(
        f"{server.url}/predict",
        json={"records": [GOOD]},
        headers={"Authorization": f"Bearer {KEY}"},
        verify=str(server.cert),
        timeout=30,
    )
    assert response.status_code == 200, response.text
    assert len(response.json()["predictions"]) == 1


def test_the_certificate_is_the_one_served(server):
    context = ssl.create_default_context(cafile=str(server.cert))
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as raw:
        with context.wrap_socket(raw, server_hostname="127.0.0.1") as tls:
            served = tls.getpeercert(binary_form=True)
    expected = x509.load_pem_x509_certificate(server.cert.read_bytes())
    assert served == expected.public_bytes(serialization.Encoding.DER)


def test_header_read_timeout_holds_behind_tls(server):
    # service/http/header_limits.py bounds the protocol under the TLS layer as well.
    context = ssl.create_default_context(cafile=str(server.cert))
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as raw:
        with context.wrap_socket(raw, server_hostname="127.0.0.1") as tls:
            started = time.monotonic()
            tls.sendall(b"GET /readyz HTTP/1.1\r\nHost: 127.0.0.1\r\n")  # never finished
            answer = tls.recv(65536)
            elapsed = time.monotonic() - started
    assert answer.startswith(b"HTTP/1.1 408 ")
    assert elapsed < 2 + 1


def test_a_client_that_does_not_trust_the_certificate_is_refused(server):
    with pytest.raises(requests.exceptions.SSLError):
        requests.get(f"{server.url}/readyz", timeout=10)  # the system CAs only


def test_plain_http_to_the_tls_port_is_closed_without_an_answer(server):
    plain = server.url.replace("https://", "http://")
    with pytest.raises(requests.ConnectionError):
        requests.get(f"{plain}/readyz", timeout=10)
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as raw:
        raw.sendall(b"GET /readyz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        assert raw.recv(65536) == b""  # not one byte of plain HTTP comes back
