"""The built pam_fotostudio.so as sshd's libpam will load it."""
import ctypes
import os
import subprocess

from support.paths import PAM_MODULE

SERVICE_FUNCTIONS = {
    "pam_sm_authenticate", "pam_sm_setcred", "pam_sm_acct_mgmt",
    "pam_sm_open_session", "pam_sm_close_session", "pam_sm_chauthtok",
}
ALLOWED_LIBRARIES = {"libpam.so.0", "libstdc++.so.6", "libgcc_s.so.1", "libm.so.6", "libc.so.6"}


def test_module_loads_with_every_symbol_resolved_at_once():
    module = ctypes.CDLL(str(PAM_MODULE), mode=os.RTLD_NOW | os.RTLD_LOCAL)
    for name in SERVICE_FUNCTIONS:
        assert getattr(module, name) is not None


def test_module_exports_the_pam_service_functions_and_nothing_else():
    listing = subprocess.run(["nm", "-D", "--defined-only", str(PAM_MODULE)],
                             check=True, capture_output=True, text=True).stdout
    exported = {line.split()[-1] for line in listing.splitlines() if line.strip()}
    assert exported == SERVICE_FUNCTIONS


def test_module_links_only_libpam_and_the_c_and_cxx_runtimes():
    dynamic = subprocess.run(["readelf", "-d", str(PAM_MODULE)],
                             check=True, capture_output=True, text=True).stdout
    needed = {line.split("[")[1].rstrip("]") for line in dynamic.splitlines()
              if "(NEEDED)" in line}
    assert "libpam.so.0" in needed
    assert needed <= ALLOWED_LIBRARIES, needed - ALLOWED_LIBRARIES
