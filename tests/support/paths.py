"""Where the built binaries are: FOTOSTUDIO_BUILD_DIR, or build/ at the top of the checkout."""
import os
from pathlib import Path

TOP = Path(__file__).resolve().parents[2]
BUILD = Path(os.environ.get("FOTOSTUDIO_BUILD_DIR", TOP / "build")).resolve()

FOTOAUTHD = BUILD / "fotoauthd" / "fotoauthd"
FOTOAUTHCTL = BUILD / "fotoauthctl" / "fotoauthctl"
PAM_MODULE = BUILD / "pam_fotostudio" / "pam_fotostudio.so"
PAM_DRIVER = BUILD / "tests" / "integration" / "pam-driver"
PAM_CANCEL = BUILD / "tests" / "integration" / "pam-cancel"
