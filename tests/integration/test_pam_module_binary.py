"""The built pam_fotostudio.so as sshd's libpam will load it."""
import ctypes
import os
import subprocess
import sys
import textwrap

from support.paths import PAM_MODULE

SERVICE_FUNCTIONS = {
    "pam_sm_authenticate", "pam_sm_setcred", "pam_sm_acct_mgmt",
    "pam_sm_open_session", "pam_sm_close_session", "pam_sm_chauthtok",
}
# The C++ library is linked into the module (pam_fotostudio/meson.build): a C program such as
# sshd loads no libstdc++ for it. The unwinder stays the shared libgcc_s, the one the C library
# itself uses to cancel a thread (test_pam_auth_stage.py). The dynamic loader, which every process
# has, provides the thread-local storage the runtime uses (ld-linux-x86-64.so.2 on amd64).
ALLOWED_LIBRARIES = {"libpam.so.0", "libc.so.6", "libgcc_s.so.1"}


def test_module_loads_with_every_symbol_resolved_at_once():
    module = ctypes.CDLL(str(PAM_MODULE), mode=os.RTLD_NOW | os.RTLD_LOCAL)
    for name in SERVICE_FUNCTIONS:
        assert getattr(module, name) is not None


def test_module_exports_the_pam_service_functions_and_nothing_else():
    listing = subprocess.run(["nm", "-D", "--defined-only", str(PAM_MODULE)],
                             check=True, capture_output=True, text=True).stdout
    exported = {line.split()[-1] for line in listing.splitlines() if line.strip()}
    assert exported == SERVICE_FUNCTIONS


def test_module_links_only_libpam_the_c_library_and_the_unwinder():
    dynamic = subprocess.run(["readelf", "-d", str(PAM_MODULE)],
                             check=True, capture_output=True, text=True).stdout
    needed = {line.split("[")[1].rstrip("]") for line in dynamic.splitlines()
              if "(NEEDED)" in line}
    assert "libpam.so.0" in needed
    others = {name for name in needed - ALLOWED_LIBRARIES if not name.startswith("ld-linux")}
    assert not others, others


# libpam loads the module at every pam_start and unloads it at pam_end; a long-running process
# that authenticates again and again must not lose memory each time. The C++ library linked into
# the module allocates about 70 KB at every load; the module is marked to stay loaded once loaded
# (-z nodelete, pam_fotostudio/meson.build), so that happens once per process. This counts the C
# library's allocated bytes over 2,000 loads.
LOAD_AND_UNLOAD = textwrap.dedent("""
    import ctypes, os, sys, _ctypes

    class MallInfo2(ctypes.Structure):
        _fields_ = [(name, ctypes.c_size_t) for name in (
            "arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks", "fsmblks",
            "uordblks", "fordblks", "keepcost")]

    libc = ctypes.CDLL("libc.so.6")
    libc.mallinfo2.restype = MallInfo2
    ctypes.CDLL("libpam.so.0", mode=ctypes.RTLD_GLOBAL)

    def cycle(times):
        for _ in range(times):
            module = ctypes.CDLL(sys.argv[1], mode=os.RTLD_NOW | os.RTLD_LOCAL)
            _ctypes.dlclose(module._handle)

    cycle(100)
    before = libc.mallinfo2().uordblks
    cycle(2000)
    print(libc.mallinfo2().uordblks - before)
""")


def test_loading_and_unloading_the_module_keeps_no_memory():
    result = subprocess.run([sys.executable, "-c", LOAD_AND_UNLOAD, str(PAM_MODULE)],
                            check=True, capture_output=True, text=True)
    grown = int(result.stdout.strip())
    # 2,000 loads that each kept the runtime's reserve would hold about 140 MB; what Python
    # itself allocates over the loop stays far below 2 MB.
    assert grown < 2 * 1024 * 1024, f"{grown} bytes more allocated after 2,000 loads"


STAYS_LOADED = textwrap.dedent("""
    import ctypes, os, sys, _ctypes
    ctypes.CDLL("libpam.so.0", mode=ctypes.RTLD_GLOBAL)
    module = ctypes.CDLL(sys.argv[1], mode=os.RTLD_NOW | os.RTLD_LOCAL)
    _ctypes.dlclose(module._handle)
    with open("/proc/self/maps") as maps:
        print(sum(1 for line in maps if line.rstrip().endswith(sys.argv[1])))
""")


def test_the_module_stays_loaded_after_pam_end_unloads_it():
    """libpam's dlclose at pam_end leaves the module (and the unwinder it needs) in place, so the
    next pam_start of a long-running process finds it loaded instead of loading it again."""
    result = subprocess.run([sys.executable, "-c", STAYS_LOADED, str(PAM_MODULE.resolve())],
                            check=True, capture_output=True, text=True)
    assert int(result.stdout.strip()) > 0, "the module was unmapped by dlclose"
