"""The daemon's GeoIP country lookup (fotoauthd/geoip.cpp) through geoip-lookup, on databases
written by MaxMind's own writer in both record schemas and on a real public database.

geoip-lookup DBPATH ADDRESS... prints "ADDRESS<TAB>PLACE<TAB>COUNTRY" per address and logs to
stderr as the daemon does. Replacing a database while it is in use is a unit test
(tests/unit/test_geoip.cpp): it needs a long-lived reader and a clock the test sets.
"""
import subprocess

import pytest

from support.mmdb import SCHEMAS, build_mmdb, real_country_database
from support.paths import BUILD

GEOIP_LOOKUP = BUILD / "tests" / "integration" / "geoip-lookup"

TEST_NETWORKS = {
    "198.51.100.0/25": "FR",
    "198.51.100.128/25": "DE",
    "2001:db8:1::/48": "JP",
}

# Every local range, listed in the database as if it were somewhere: it must not matter.
LOCAL_NETWORKS = {
    "10.0.0.0/8": "FR",
    "100.64.0.0/10": "FR",
    "127.0.0.0/8": "FR",
    "169.254.0.0/16": "FR",
    "172.16.0.0/12": "FR",
    "192.168.0.0/16": "FR",
    "::1/128": "FR",
    "fc00::/7": "FR",
    "fe80::/10": "FR",
}


def lookup(database, *addresses):
    """{address: (place, country)} and stderr of one geoip-lookup run."""
    result = subprocess.run([str(GEOIP_LOOKUP), str(database), *addresses],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert len(lines) == len(addresses), result.stdout
    answers = {}
    for address, line in zip(addresses, lines):
        shown, place, country = line.split("\t")
        assert shown == address
        answers[address] = (place, country)
    return answers, result.stderr


def warnings(stderr):
    return [line for line in stderr.splitlines() if line.startswith("warning:")]


@pytest.fixture(params=SCHEMAS)
def schema(request):
    return request.param


def test_each_test_network_gives_its_country_in_both_schemas(tmp_path, schema):
    database = build_mmdb(tmp_path / "country.mmdb", TEST_NETWORKS, schema=schema)

    answers, stderr = lookup(database, "198.51.100.7", "198.51.100.127", "198.51.100.128",
                             "198.51.100.255", "::ffff:198.51.100.7", "2001:db8:1::5",
                             "2001:db8:1:ffff::1")

    assert answers == {
        "198.51.100.7": ("country", "FR"),
        "198.51.100.127": ("country", "FR"),
        "198.51.100.128": ("country", "DE"),
        "198.51.100.255": ("country", "DE"),
        "::ffff:198.51.100.7": ("country", "FR"),
        "2001:db8:1::5": ("country", "JP"),
        "2001:db8:1:ffff::1": ("country", "JP"),
    }
    assert warnings(stderr) == []


def test_a_public_address_the_database_does_not_list_is_not_listed(tmp_path, schema):
    database = build_mmdb(tmp_path / "country.mmdb", TEST_NETWORKS, schema=schema)

    answers, stderr = lookup(database, "203.0.113.9", "198.51.101.1", "2001:db8:2::1")

    assert set(answers.values()) == {("not-listed", "")}
    assert warnings(stderr) == []


def test_local_sources_are_local_even_when_the_database_lists_them(tmp_path, schema):
    database = build_mmdb(tmp_path / "country.mmdb", {**TEST_NETWORKS, **LOCAL_NETWORKS},
                          schema=schema)
    local = ["10.1.2.3", "100.64.0.1", "127.0.0.1", "169.254.1.1", "172.16.5.4",
             "192.168.1.10", "::1", "fd00::1", "fe80::1", "fe80::1%eth0", "::ffff:10.1.2.3"]

    answers, _ = lookup(database, *local, "198.51.100.7")

    assert {address: answers[address] for address in local} == {
        address: ("local", "") for address in local}
    assert answers["198.51.100.7"] == ("country", "FR")


def test_names_and_text_that_is_not_exactly_an_address_are_unknown(tmp_path):
    database = build_mmdb(tmp_path / "country.mmdb", {**TEST_NETWORKS, "0.0.0.0/1": "US"})
    unknown = ["client.example", "localhost", "UNKNOWN", "", "198.51.100.7 ", "[198.51.100.7]",
               "198.51.100.7:22", "2001:db8:1::5%eth0"]

    answers, _ = lookup(database, *unknown)

    assert answers == {address: ("unknown", "") for address in unknown}


def test_a_code_in_lower_case_is_given_in_upper_case_and_one_not_of_two_letters_is_ignored(
        tmp_path, schema):
    database = build_mmdb(tmp_path / "country.mmdb", {
        "198.51.100.0/26": "fr", "198.51.100.64/26": "FRA", "198.51.100.128/26": "F",
        "198.51.100.192/26": "ZZ"}, schema=schema)

    answers, stderr = lookup(database, "198.51.100.1", "198.51.100.65", "198.51.100.129",
                             "198.51.100.193", "198.51.100.66")

    assert answers == {"198.51.100.1": ("country", "FR"),
                       "198.51.100.65": ("not-listed", ""),
                       "198.51.100.129": ("not-listed", ""),
                       "198.51.100.193": ("not-listed", ""),
                       "198.51.100.66": ("not-listed", "")}
    # Two bad records met, one warning: a bad database must not flood the log.
    assert len(warnings(stderr)) == 1, stderr


def test_a_country_code_of_another_type_than_text_is_not_listed(tmp_path):
    database = build_mmdb(tmp_path / "country.mmdb", {
        "198.51.100.0/25": {"country_code": 250},
        "198.51.100.128/25": {"country": {"iso_code": {"alpha2": "DE"}}}})

    answers, _ = lookup(database, "198.51.100.7", "198.51.100.200")

    assert set(answers.values()) == {("not-listed", "")}


@pytest.mark.parametrize("content", [None, b"", b"\x00" * 4096, b"MaxMind.com, but no database"],
                         ids=["missing", "empty", "zeros", "text"])
def test_an_unusable_database_makes_every_address_not_listed_and_is_logged_once(tmp_path,
                                                                                  content):
    database = tmp_path / "country.mmdb"
    if content is not None:
        database.write_bytes(content)

    answers, stderr = lookup(database, "198.51.100.7", "8.8.8.8", "2001:db8:1::5", "10.1.2.3",
                             "client.example")

    assert answers == {"198.51.100.7": ("not-listed", ""), "8.8.8.8": ("not-listed", ""),
                       "2001:db8:1::5": ("not-listed", ""), "10.1.2.3": ("local", ""),
                       "client.example": ("unknown", "")}
    [warning] = warnings(stderr)
    assert "logins go on without countries" in warning
    assert str(database) in warning


def test_without_a_database_nothing_is_found_and_nothing_is_logged():
    answers, stderr = lookup("", "198.51.100.7", "2001:db8:1::5", "10.1.2.3")

    assert answers == {"198.51.100.7": ("not-listed", ""), "2001:db8:1::5": ("not-listed", ""),
                       "10.1.2.3": ("local", "")}
    assert stderr == ""


def test_an_ipv4_only_database_lists_no_ipv6_address_and_says_so_once(tmp_path):
    database = build_mmdb(tmp_path / "country.mmdb", {"198.51.100.0/24": "FR"},
                          schema="country_code", ip_version=4)

    answers, stderr = lookup(database, "2001:db8:1::5", "2001:db8:2::5", "::ffff:198.51.100.7")

    assert answers == {"2001:db8:1::5": ("not-listed", ""), "2001:db8:2::5": ("not-listed", ""),
                       "::ffff:198.51.100.7": ("country", "FR")}
    [warning] = warnings(stderr)
    assert "no IPv6" in warning


# What ip-location-db's geo-whois-asn-country says, from the regional registries' records:
# Google's resolver and its IPv6 prefix (ARIN, US), 1.1.1.1 (APNIC's research prefix, which
# APNIC registers in Australia; Cloudflare's name is not in the registry record), RIPE NCC's own
# network 193.0.0.0/21 (Amsterdam, NL), and the M root server run by WIDE (JP). These are
# registrations that have not moved in many years.
REAL_EXPECTED = {
    "8.8.8.8": ("country", "US"),
    "::ffff:8.8.8.8": ("country", "US"),
    "2001:4860:4860::8888": ("country", "US"),
    "1.1.1.1": ("country", "AU"),
    "193.0.0.1": ("country", "NL"),
    "202.12.27.33": ("country", "JP"),
    "192.168.1.1": ("local", ""),
    "client.example": ("unknown", ""),
}


def test_the_real_database_places_well_known_registrations_in_their_countries():
    database = real_country_database()

    answers, stderr = lookup(database, *REAL_EXPECTED)

    assert answers == REAL_EXPECTED
    assert warnings(stderr) == []
