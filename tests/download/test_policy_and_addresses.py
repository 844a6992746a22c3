from __future__ import annotations

import socket
from types import SimpleNamespace

import pytest

from media_analysis.engine.errors import DownloadError, InvalidUrl, RefusedAddress, UnsupportedScheme
from media_analysis.engine.fetch import DownloadPolicy
from media_analysis.engine.fetch.addresses import check_address, check_url


@pytest.fixture
def fake_dns(monkeypatch) -> dict[str, list[str]]:
    """Answer name lookups from a table, and IP literals as the system does: no query leaves the machine."""
    table: dict[str, list[str]] = {}
    real = socket.getaddrinfo

    def getaddrinfo(host, port, family=0, type=0, proto=0, flags=0):
        if host in table:
            return [
                (socket.AF_INET6 if ":" in address else socket.AF_INET, socket.SOCK_STREAM, 6, "", (address, port))
                for address in table[host]
            ]
        try:
            return real(host, port, family, type, proto, flags | socket.AI_NUMERICHOST)
        except socket.gaierror:
            raise socket.gaierror(socket.EAI_NONAME, f"{host} is not in the test's table") from None

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    return table


@pytest.mark.parametrize(
    "address",
    [
        "127.0.0.1",
        "127.8.9.10",
        "10.1.2.3",
        "172.16.0.1",
        "192.168.1.1",
        "169.254.169.254",
        "100.64.0.1",
        "224.0.0.1",
        "240.0.0.1",
        "255.255.255.255",
        "0.0.0.0",
        "::1",
        "::",
        "fe80::1",
        "fc00::1",
        "ff02::1",
        "::ffff:127.0.0.1",
        "::ffff:169.254.169.254",
        "2002:a00:1::1",  # 6to4 wrapping 10.0.0.1
        "64:ff9b::a9fe:a9fe",  # NAT64 wrapping 169.254.169.254
    ],
)
def test_non_public_addresses_are_refused(address):
    with pytest.raises(RefusedAddress):
        check_address(address, DownloadPolicy())


@pytest.mark.parametrize("address", ["93.184.216.34", "8.8.8.8", "2606:4700:4700::1111", "::ffff:93.184.216.34"])
def test_public_addresses_pass(address):
    check_address(address, DownloadPolicy())


def test_allow_list_takes_addresses_networks_and_names():
    policy = DownloadPolicy(allow_private=("127.0.0.1", "10.0.0.0/8", "Intranet.Example.", "[::1]"))
    check_address("127.0.0.1", policy)
    check_address("10.200.3.4", policy)
    check_address("::ffff:10.0.0.7", policy)  # IPv4-mapped form of an allowed address
    check_address("::1", policy)
    check_address("192.168.0.1", policy, host="intranet.example")
    with pytest.raises(RefusedAddress):
        check_address("192.168.0.1", policy)
    with pytest.raises(RefusedAddress):
        check_address("127.0.0.2", policy)


def test_allow_list_given_as_comma_separated_text():
    assert DownloadPolicy(allow_private="127.0.0.1, 10.0.0.0/8,").allow_private == ("127.0.0.1", "10.0.0.0/8")
    check_address("10.1.1.1", DownloadPolicy(allow_private="127.0.0.1, 10.0.0.0/8"))


def test_a_name_is_refused_when_any_of_its_addresses_is_private(fake_dns):
    fake_dns["mixed.test"] = ["93.184.216.34", "10.0.0.5"]
    fake_dns["public.test"] = ["93.184.216.34", "2606:4700:4700::1111"]
    with pytest.raises(RefusedAddress, match=r"10\.0\.0\.5"):
        check_url("http://mixed.test/a.png", DownloadPolicy())
    assert check_url("https://public.test/a.png", DownloadPolicy()) == ("public.test", 443)


def test_an_allowed_name_is_not_resolved(fake_dns):
    fake_dns["cdn.internal"] = ["10.0.0.5"]
    policy = DownloadPolicy(allow_private=("cdn.internal",))
    assert check_url("http://cdn.internal:8080/x", policy) == ("cdn.internal", 8080)


def test_unresolvable_host_is_a_download_error_not_a_refusal(fake_dns):
    with pytest.raises(DownloadError) as caught:
        check_url("http://nowhere.test/x.png", DownloadPolicy())
    assert type(caught.value) is DownloadError
    assert caught.value.retryable


@pytest.mark.parametrize(
    "url", ["ftp://example.org/a.png", "file:///etc/passwd", "data:image/png;base64,AAAA", "gopher://x/", "a.png"]
)
def test_only_http_and_https(url):
    with pytest.raises(UnsupportedScheme) as caught:
        check_url(url, DownloadPolicy())
    assert caught.value.error_class == "unsupported_scheme"
    assert not caught.value.retryable


@pytest.mark.parametrize(
    "url",
    [
        "http://[::1/a.png",  # unclosed IPv6 bracket: urlsplit refuses it
        "http://[zz]/a.png",  # brackets around something that is no IPv6 address
        "http:///a.png",  # no host
        "http://:8080/a.png",  # a port, but no host
        "http://host:99999/a.png",  # port out of range
        "http://host:0/a.png",
        "http://host:-1/a.png",
        "http://host:8o/a.png",  # not a number
        "http://exa mple.org/a.png",  # a space in the host
        "http://a..b.org/a.png",  # an empty label
        "http://" + "x" * 64 + ".org/a.png",  # a label over 63 characters
    ],
)
def test_malformed_urls_are_invalid_urls(url, fake_dns):
    with pytest.raises(InvalidUrl) as caught:
        check_url(url, DownloadPolicy())
    assert caught.value.error_class == "invalid_url"
    assert not caught.value.retryable


def test_policy_from_any_settings_object():
    settings = SimpleNamespace(
        MEDIA_ANALYSIS_TIMEOUT=7.5,
        MEDIA_ANALYSIS_CONNECT_TIMEOUT=2.0,
        MEDIA_ANALYSIS_MAX_FILE_SIZE=1234,
        MEDIA_ANALYSIS_MAX_RETRIES=1,
        MEDIA_ANALYSIS_BACKOFF_FACTOR=0.25,
        MEDIA_ANALYSIS_MAX_REDIRECTS=2,
        MEDIA_ANALYSIS_USER_AGENT="probe/2",
        MEDIA_ANALYSIS_ALLOW_PRIVATE_HOSTS=["127.0.0.1", "localhost"],
        MEDIA_ANALYSIS_AV_PROBE_BYTES=4096,
    )
    policy = DownloadPolicy.from_settings(settings)
    assert policy == DownloadPolicy(
        timeout=7.5,
        connect_timeout=2.0,
        max_bytes=1234,
        max_retries=1,
        backoff_factor=0.25,
        max_redirects=2,
        user_agent="probe/2",
        allow_private=("127.0.0.1", "localhost"),
        probe_bytes=4096,
    )
    assert DownloadPolicy.from_settings(SimpleNamespace()) == DownloadPolicy()


def test_policy_from_django_settings(settings):
    settings.MEDIA_ANALYSIS_MAX_FILE_SIZE = 2048
    settings.MEDIA_ANALYSIS_ALLOW_PRIVATE_HOSTS = ["10.0.0.0/8"]
    settings.MEDIA_ANALYSIS_DOWNLOAD_DEADLINE = 30.0
    policy = DownloadPolicy.from_settings(settings)
    assert policy.max_bytes == 2048
    assert policy.deadline == 30.0
    assert policy.allow_private == ("10.0.0.0/8",)
    assert policy.user_agent == settings.MEDIA_ANALYSIS_USER_AGENT
