"""Checks of the end-to-end test server itself, with standard-library clients only."""

import gzip
import http.client
import socket
import ssl
import struct
import threading
import time
import zlib
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import quote

import pytest

from tests.webserver import RequestLog, Web, free_port, make_ca, server_context, write_ca_bundle

TIMEOUT = 5


@pytest.fixture
def web():
    with Web() as server:
        yield server


def connect(web, timeout=TIMEOUT):
    return http.client.HTTPConnection(web.host, web.port, timeout=timeout)


def ask(conn, target, method="GET", headers=None, body=None):
    conn.request(method, target, body=body, headers=headers or {})
    response = conn.getresponse()
    return response, response.read()


def fetch(web, target, method="GET", headers=None):
    conn = connect(web)
    try:
        return ask(conn, target, method, headers)
    finally:
        conn.close()


def raw_exchange(web, request: bytes) -> socket.socket:
    sock = socket.create_connection((web.host, web.port), timeout=TIMEOUT)
    sock.sendall(request)
    return sock


def read_all(sock) -> bytes:
    chunks = []
    while chunk := sock.recv(65536):
        chunks.append(chunk)
    return b"".join(chunks)


# --- pages ------------------------------------------------------------------


def test_home(web):
    response, body = fetch(web, "/")
    assert response.status == 200
    assert response.getheader("Content-Type").startswith("text/html")
    assert body == b"<html><head><title>Home</title></head><body>Home page</body></html>"


@pytest.mark.parametrize("target", ["/ok", "/ok?id=1", "/ok/deep/page", "/ok//double/slash?x=1"])
def test_ok_pages(web, target):
    response, body = fetch(web, target)
    assert (response.status, response.reason) == (200, "OK")
    assert b"<title>OK</title>" in body


@pytest.mark.parametrize("target", ["/nope", "/okay", "/status/abc", "/status/42"])
def test_unknown_paths_are_404(web, target):
    response, body = fetch(web, target)
    assert response.status == 404
    assert b"<title>Not Found</title>" in body


@pytest.mark.parametrize(
    "code, reason", [(404, "Not Found"), (410, "Gone"), (500, "Internal Server Error"), (999, "Unknown")]
)
def test_status(web, code, reason):
    response, body = fetch(web, f"/status/{code}?id=1")
    assert (response.status, response.reason) == (code, reason)
    assert response.getheader("Content-Type").startswith("text/html")
    assert b"<title>" in body


def test_bodyless_status_keeps_connection_usable(web):
    conn = connect(web)
    response, body = ask(conn, "/status/204")
    assert (response.status, body) == (204, b"")
    assert ask(conn, "/ok")[0].status == 200
    conn.close()


def test_head_route_answers_head_and_get_differently(web):
    conn = connect(web)
    head, head_body = ask(conn, "/head/405?id=1", "HEAD")
    get, get_body = ask(conn, "/head/405?id=1")
    conn.close()
    assert (head.status, head_body) == (405, b"")
    assert get.status == 200 and b"<title>" in get_body


def test_head_sets_content_length_but_writes_no_body(web):
    conn = connect(web)
    head, _ = ask(conn, "/ok", "HEAD")
    get, body = ask(conn, "/ok")  # garbled if HEAD had written a body
    conn.close()
    assert head.getheader("Content-Length") == get.getheader("Content-Length") == str(len(body))
    assert get.status == 200 and b"<title>OK</title>" in body


def test_soft404(web):
    response, body = fetch(web, "/soft404")
    assert response.status == 200
    assert b"<title>Page not found</title>" in body and b"<h1>404 - Page Not Found</h1>" in body


def test_blocked(web):
    response, body = fetch(web, "/blocked")
    assert response.status == 403
    assert response.getheader("cf-mitigated") == "challenge"
    assert b"<title>Just a moment...</title>" in body


def test_png_is_a_valid_1x1_image(web):
    response, body = fetch(web, "/image.png")
    assert (response.status, response.getheader("Content-Type")) == (200, "image/png")
    assert body.startswith(b"\x89PNG\r\n\x1a\n")
    length, kind = struct.unpack(">I4s", body[8:16])
    ihdr = body[16 : 16 + length]
    assert kind == b"IHDR" and struct.unpack(">II", ihdr[:8]) == (1, 1)
    assert struct.unpack(">I", body[16 + length : 20 + length])[0] == zlib.crc32(kind + ihdr)
    assert body.endswith(b"IEND\xaeB`\x82")


def test_jpeg(web):
    response, body = fetch(web, "/image.jpg")
    assert (response.status, response.getheader("Content-Type")) == (200, "image/jpeg")
    assert body.startswith(b"\xff\xd8") and body.endswith(b"\xff\xd9")


def test_image_url_returning_html(web):
    response, body = fetch(web, "/image-as-html.jpg")
    assert response.status == 200
    assert response.getheader("Content-Type").startswith("text/html") and b"<title>" in body


def test_gzip(web):
    response, body = fetch(web, "/gzip")
    assert response.getheader("Content-Encoding") == "gzip"
    assert b"<title>Gzip</title>" in gzip.decompress(body)


def test_big(web):
    response, body = fetch(web, "/big/300")
    assert response.status == 200
    assert len(body) == 300 * 1024 == int(response.getheader("Content-Length"))


def test_slow_waits_then_answers(web):
    start = time.monotonic()
    response, _ = fetch(web, "/slow/150")
    assert response.status == 200
    assert time.monotonic() - start >= 0.15


# --- counters ---------------------------------------------------------------


def test_flaky_fails_first_n_requests_of_each_target(web):
    conn = connect(web)
    codes = [ask(conn, "/flaky/2/503?id=1", method)[0].status for method in ("HEAD", "GET", "GET")]
    assert codes == [503, 503, 200]  # HEAD and GET counted together
    assert ask(conn, "/flaky/2/503?id=2")[0].status == 503  # another target starts afresh
    conn.close()


@pytest.mark.parametrize("route, code", [("/retry-after", 429), ("/retry-after-503", 503)])
def test_retry_after(web, route, code):
    first, _ = fetch(web, f"{route}/7?id=1")
    assert (first.status, first.getheader("Retry-After")) == (code, "7")
    assert fetch(web, f"{route}/7?id=1")[0].status == 200


# --- redirects --------------------------------------------------------------


@pytest.mark.parametrize(
    "code, to",
    [(301, "https://example.invalid/a//b?c=1&d=%2C"), (302, "../relative/page"), (307, "/ok?x=1"), (308, "/")],
)
def test_redirect_location_is_the_decoded_to_parameter(web, code, to):
    response, _ = fetch(web, f"/redirect/{code}?to={quote(to, safe='')}&id=1")
    assert (response.status, response.getheader("Location")) == (code, to)


def test_chain_counts_down(web):
    assert fetch(web, "/chain/2?code=302")[0].getheader("Location") == "/chain/1?code=302"
    assert fetch(web, "/chain/1?code=302")[0].getheader("Location") == "/chain/0?code=302"
    response, _ = fetch(web, "/chain/1")
    assert (response.status, response.getheader("Location")) == (301, "/chain/0?code=301")
    assert fetch(web, "/chain/0?code=302")[0].status == 200


@pytest.mark.parametrize(
    "target, code, location", [("/loop/a", 302, "/loop/b"), ("/loop/b", 302, "/loop/a"), ("/to-home", 301, "/")]
)
def test_fixed_redirects(web, target, code, location):
    response, _ = fetch(web, target)
    assert (response.status, response.getheader("Location")) == (code, location)


# --- broken connections -----------------------------------------------------


def test_not_http(web):
    with raw_exchange(web, b"GET /not-http HTTP/1.1\r\nHost: x\r\n\r\n") as sock:
        assert read_all(sock) == b"HELLO THIS IS NOT HTTP\r\n\r\n"


def test_reset_closes_without_answer(web):
    with (raw_exchange(web, b"GET /reset HTTP/1.1\r\nHost: x\r\n\r\n") as sock,
          pytest.raises(ConnectionResetError)):  # RST, not an orderly FIN (b"")
        sock.recv(1024)
    assert web.hits("/reset") == 1


def test_free_port_refuses_connections():
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", free_port()), timeout=TIMEOUT).close()


# --- logging and connections ------------------------------------------------


@pytest.mark.parametrize("target", ["/a//b%2Cc?q=%2C", "//double/leading", "/ok/%7Euser/./x/../y?a=%20b"])
def test_raw_target_is_logged_byte_exact(web, target):
    fetch(web, target, headers={"X-Probe": "yes"})
    [entry] = web.requests
    assert isinstance(entry, RequestLog)
    assert (entry.method, entry.target, entry.host) == ("GET", target, f"127.0.0.1:{web.port}")
    assert entry.headers["x-probe"] == "yes" and entry.at <= time.monotonic()
    assert web.hits(target) == 1 and web.hits(target.partition("?")[0] + "?other") == 0


def test_every_method_is_logged_in_order(web):
    conn = connect(web)
    for method, body in [("HEAD", None), ("GET", None), ("POST", b"payload"), ("PURGE", None)]:
        assert ask(conn, "/ok?id=1", method, body=body)[0].status == 200
    conn.close()
    log = web.requests
    assert [entry.method for entry in log] == ["HEAD", "GET", "POST", "PURGE"]
    assert [entry.at for entry in log] == sorted(entry.at for entry in log)
    assert web.hits("/ok?id=1") == 4


def test_keep_alive_reuses_the_connection(web):
    conn = connect(web)
    ask(conn, "/ok?id=1")
    sock = conn.sock
    ask(conn, "/?id=2")
    assert sock is not None and conn.sock is sock
    conn.close()


def test_max_concurrent_counts_overlapping_requests(web):
    barrier = threading.Barrier(5)

    def hit(i):
        barrier.wait()
        return fetch(web, f"/slow/500?id={i}")[0].status

    with ThreadPoolExecutor(5) as pool:
        assert list(pool.map(hit, range(5))) == [200] * 5
    assert web.max_concurrent() == 5
    assert web.max_concurrent(f"127.0.0.1:{web.port}") == 5
    assert web.max_concurrent("elsewhere.test") == 0


def test_max_concurrent_of_sequential_requests_is_one(web):
    conn = connect(web)
    for i in range(3):
        ask(conn, f"/ok?id={i}", headers={"Host": "a.test"})
    conn.close()
    assert web.max_concurrent() == web.max_concurrent("a.test") == 1
    assert {entry.host for entry in web.requests} == {"a.test"}


# --- stopping ---------------------------------------------------------------


def test_stop_releases_hang(web):
    conn = connect(web, timeout=0.5)
    with pytest.raises(TimeoutError):
        ask(conn, "/hang?id=1")  # no answer while the server runs
    assert web.hits("/hang?id=1") == 1
    start = time.monotonic()
    web.stop()
    assert time.monotonic() - start < 2
    conn.sock.settimeout(TIMEOUT)
    assert conn.sock.recv(1024) == b""  # closed without an answer
    conn.close()


def test_stop_is_prompt_with_idle_keep_alive_connections_and_idempotent():
    web = Web()
    conn = connect(web)
    ask(conn, "/ok")
    start = time.monotonic()
    web.stop()
    web.stop()
    assert time.monotonic() - start < 2
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection((web.host, web.port), timeout=TIMEOUT).close()
    conn.close()


# --- TLS --------------------------------------------------------------------


@pytest.fixture(scope="module")
def ca():
    return make_ca()


@pytest.fixture
def bundle(ca, tmp_path):
    return write_ca_bundle(ca, tmp_path / "ca.pem")


def unverified():
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    return context


def https_get(web, context, target="/ok", server_hostname=None):
    conn = http.client.HTTPSConnection(web.host, web.port, timeout=TIMEOUT, context=context)
    if server_hostname:  # check the certificate for another name than the one connected to
        conn.sock = context.wrap_socket(
            socket.create_connection((web.host, web.port), timeout=TIMEOUT), server_hostname=server_hostname
        )
    try:
        return ask(conn, target)
    finally:
        conn.close()


def test_tls_with_trusted_ca(ca, bundle):
    context = ssl.create_default_context(cafile=bundle)
    with Web(tls=server_context(ca)) as web:
        assert web.url("/ok?x=1") == f"https://127.0.0.1:{web.port}/ok?x=1"
        assert https_get(web, context)[0].status == 200
        assert https_get(web, context, "/", server_hostname="localhost")[0].status == 200
        assert web.hits("/ok") == 1 and web.hits("/") == 1


@pytest.mark.parametrize(
    "make_context",
    [
        pytest.param(lambda ca: server_context(make_ca()), id="untrusted-ca"),
        pytest.param(lambda ca: server_context(ca, hostnames=("localhost",)), id="wrong-host-name"),
        pytest.param(lambda ca: server_context(ca, expired=True), id="expired"),
    ],
)
def test_tls_verification_failures_leave_the_server_running(ca, bundle, make_context, capfd):
    with Web(tls=make_context(ca)) as web:
        with pytest.raises(ssl.SSLCertVerificationError):
            https_get(web, ssl.create_default_context(cafile=bundle))
        assert https_get(web, unverified())[0].status == 200
    assert capfd.readouterr().err == ""  # stop() joined the handlers: nothing was printed


def test_tls_garbage_client_does_not_block_others(ca, bundle, capfd):
    with (Web(tls=server_context(ca)) as web,
          socket.create_connection((web.host, web.port), timeout=TIMEOUT) as idle):
        idle.sendall(b"GET / HTTP/1.1\r\n\r\n")  # not a TLS hello; another never says anything
        with socket.create_connection((web.host, web.port), timeout=TIMEOUT):
            assert https_get(web, ssl.create_default_context(cafile=bundle))[0].status == 200
    assert capfd.readouterr().err == ""
