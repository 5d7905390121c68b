"""The manual pages in man/ render without a warning through the real man(1), and each names
what a reader looks it up for: every key of etc/fotoauthd.conf, every verb of
`fotoauthctl --help`, every mode and option of the PAM module."""
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from support.paths import FOTOAUTHCTL

TOP = Path(__file__).resolve().parents[2]
MAN = TOP / "man"
PAGES = ["pam_fotostudio.8", "fotoauthd.8", "fotoauthd.conf.5", "fotoauthctl.1"]

pytestmark = pytest.mark.skipif(shutil.which("man") is None,
                                reason="man is not installed (Debian package man-db)")


def render(page):
    """The page as man shows it in an 80-column pipe, whitespace collapsed so that a phrase
    broken across lines still matches; fails on a non-zero exit or anything on stderr."""
    environment = dict(os.environ, MANWIDTH="80", LC_ALL="C.UTF-8")
    environment.pop("MANPAGER", None)
    environment.pop("PAGER", None)
    result = subprocess.run(["man", "--warnings", "-l", str(MAN / page)],
                            capture_output=True, text=True, env=environment)
    assert result.returncode == 0, f"man exited {result.returncode} on {page}: {result.stderr}"
    assert result.stderr == "", f"man warned about {page}:\n{result.stderr}"
    # Without a terminal man-db strips the overstrike; remove any left so the text compares.
    plain = re.sub(r".\x08", "", result.stdout)
    return " ".join(plain.split())


def documented_config_keys():
    """The keys of the `#key = value` lines of the example configuration."""
    text = (TOP / "etc" / "fotoauthd.conf").read_text()
    return re.findall(r"^#([a-z_]+) = ", text, flags=re.MULTILINE)


def listed_verbs():
    """The verbs of `fotoauthctl --help`: the lower-case words that open each entry of its
    verb lists, such as 'mfa mode' from 'mfa mode MODE' or 'devices forget' from
    'devices forget --all'."""
    help_text = subprocess.run([str(FOTOAUTHCTL), "--help"], capture_output=True, text=True,
                               check=True).stdout
    verbs = []
    in_verbs = False
    for line in help_text.splitlines():
        if line.startswith("Verbs"):
            in_verbs = True
        elif line and not line.startswith(" "):
            in_verbs = False
        elif in_verbs and re.match(r"^  \S", line):
            entry = re.split(r"\s{2,}", line.strip())[0]
            words = []
            for word in entry.split():
                if not re.fullmatch(r"[a-z][a-z-]*", word):
                    break
                words.append(word)
            verbs.append(" ".join(words))
    return verbs


@pytest.mark.parametrize("page", PAGES)
def test_page_renders_without_warnings_and_has_the_usual_sections(page):
    text = render(page)

    for section in ("NAME", "SYNOPSIS", "DESCRIPTION", "FILES", "EXAMPLES", "SEE ALSO"):
        assert section in text, f"{page} lacks the section {section}"


def test_config_page_names_every_key_of_the_example_configuration():
    keys = documented_config_keys()
    assert len(keys) >= 20, f"the key list of etc/fotoauthd.conf looks wrong: {keys}"

    text = render("fotoauthd.conf.5")

    missing = [key for key in keys if not re.search(rf"\b{key}\b", text)]
    assert missing == [], f"fotoauthd.conf.5 does not name: {missing}"


def test_cli_page_names_every_verb_of_the_help():
    verbs = listed_verbs()
    assert {"mfa enable", "status", "unlock", "unblock"} <= set(verbs), f"parsed: {verbs}"

    text = render("fotoauthctl.1")

    missing = [verb for verb in verbs if not re.search(rf"(?<![\w-]){verb}(?![\w-])", text)]
    assert missing == [], f"fotoauthctl.1 does not name: {missing}"


def test_cli_page_names_every_option_of_the_help():
    help_text = subprocess.run([str(FOTOAUTHCTL), "--help"], capture_output=True, text=True,
                               check=True).stdout
    options = sorted(set(re.findall(r"^  (--[a-z-]+)", help_text, flags=re.MULTILINE)))
    assert "--socket" in options, f"parsed: {options}"

    text = render("fotoauthctl.1")

    assert [option for option in options if option not in text] == []


def test_pam_page_names_the_modes_and_every_option():
    text = render("pam_fotostudio.8")

    for word in ("preauth", "authfail", "require_key", "socket=", "timeout=", "daemon_user=",
                 "debug"):
        assert re.search(rf"(?<![\w-]){re.escape(word)}", text), f"pam_fotostudio.8 lacks {word}"
    for stage in ("auth", "account", "session", "password"):
        assert re.search(rf"MODULE TYPES PROVIDED.*\b{stage}\b.*RETURN VALUES", text)


def test_daemon_page_names_every_option_of_the_help():
    from support.paths import FOTOAUTHD

    help_text = subprocess.run([str(FOTOAUTHD), "--help"], capture_output=True, text=True,
                               check=True).stdout
    options = sorted(set(re.findall(r"--[a-z][a-z-]*", help_text)))
    assert "--check-config" in options, f"parsed: {options}"

    text = render("fotoauthd.8")

    assert [option for option in options if option not in text] == []
