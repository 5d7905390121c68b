"""The built pam_fotostudio.so as sshd's libpam will load it."""
import ctypes
import os
import subprocess

from support.paths import PAM_MODULE

SERVICE_FUNCTIONS = {
    "pam_sm_authenticate", "pam_sm_setcred", "pam_sm_acct_mgmt",
    "pam_sm_open_session", "pam_sm_close_session", "pam_sm_chauthtok",
}
# The C++ runtime is linked into the module (pam_fotostudio/meson.build): a C program such as
# sshd loads no libstdc++ for it. The dynamic loader, which every process has, provides the
# thread-local storage that runtime uses (ld-linux-x86-64.so.2 on amd64).
ALLOWED_LIBRARIES = {"libpam.so.0", "libc.so.6"}


def test_module_loads_with_every_symbol_resolved_at_once():
    module = ctypes.CDLL(str(PAM_MODULE), mode=os.RTLD_NOW | os.RTLD_LOCAL)
    for name in SERVICE_FUNCTIONS:
        assert getattr(module, name) is not None


def test_module_exports_the_pam_service_functions_and_nothing_else():
    listing = subprocess.run(["nm", "-D", "--defined-only", str(PAM_MODULE)],
                             check=True, capture_output=True, text=True).stdout
    exported = {line.split()[-1] for line in listing.splitlines() if line.strip()}
    assert exported == SERVICE_FUNCTIONS


def test_module_links_only_libpam_and_the_c_library():
    dynamic = subprocess.run(["readelf", "-d", str(PAM_MODULE)],
                             check=True, capture_output=True, text=True).stdout
    needed = {line.split("[")[1].rstrip("]") for line in dynamic.splitlines()
              if "(NEEDED)" in line}
    assert "libpam.so.0" in needed
    others = {name for name in needed - ALLOWED_LIBRARIES if not name.startswith("ld-linux")}
    assert not others, others
