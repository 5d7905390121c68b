"""A private D-Bus daemon and the stand-in logind on it (logind_standin.py), for the tests of how
fotoauthd ends sessions through logind without going near the machine's own system bus.

fotoauthd opens "the system bus" with sd-bus, which connects to DBUS_SYSTEM_BUS_ADDRESS when it
is set: a daemon started with that variable set to PrivateBus.address talks to this bus only.
"""
import json
import select
import shutil
import subprocess
import tempfile
from pathlib import Path

STANDIN = Path(__file__).resolve().parent / "logind_standin.py"

# Only root may connect (fotoauthd and the stand-in both run as root), and among the connected,
# everything is allowed: the bus exists for one test and holds nothing else.
BUS_CONFIG = """<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>fotostudio-test</type>
  <listen>unix:path={socket}</listen>
  <auth>EXTERNAL</auth>
  <policy context="default">
    <deny user="*"/>
    <allow user="root"/>
    <allow own="*"/>
    <allow send_destination="*" eavesdrop="true"/>
    <allow eavesdrop="true"/>
  </policy>
</busconfig>
"""


def _read_line(process, what, timeout):
    """The first line the process prints, waiting at most `timeout` seconds for it."""
    ready, _, _ = select.select([process.stdout], [], [], timeout)
    line = process.stdout.readline().strip() if ready else ""
    if not line:
        process.kill()
        _, errors = process.communicate()
        raise RuntimeError(f"{what} did not start: {errors.strip()}")
    return line


def _stop(process):
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    for stream in (process.stdout, process.stderr):
        if stream:
            stream.close()


class PrivateBus:
    """A dbus-daemon of its own on a unix socket in a temporary folder. A context manager."""

    def __init__(self):
        # Not pytest's tmp_path: a unix socket path must stay under 108 bytes.
        self.dir = Path(tempfile.mkdtemp(prefix="fsauth-bus-"))
        self.process = None
        self.address = None

    def start(self, timeout=10.0):
        config = self.dir / "bus.conf"
        config.write_text(BUS_CONFIG.format(socket=self.dir / "bus"))
        self.process = subprocess.Popen(
            ["dbus-daemon", f"--config-file={config}", "--nofork", "--nopidfile", "--nosyslog",
             "--print-address"],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL, text=True)
        self.address = _read_line(self.process, "dbus-daemon", timeout)
        return self

    def stop(self):
        if self.process:
            _stop(self.process)
            self.process = None
        shutil.rmtree(self.dir, ignore_errors=True)

    def __enter__(self):
        try:
            return self.start()
        except BaseException:
            self.stop()
            raise

    def __exit__(self, *exc):
        self.stop()


class StandInLogind:
    """logind_standin.py on a bus, with the given sessions; reads back the calls it recorded.

    sessions: [{"id", "uid", "user", "refuse"?}]; session_of_any_pid: the id GetSessionByPID
    answers for every pid, or None for "no session" (logind_standin.py says more)."""

    def __init__(self, bus, sessions, session_of_any_pid=None):
        self.bus = bus
        self.setup = {"sessions": sessions, "session_of_any_pid": session_of_any_pid}
        self.record_file = bus.dir / "logind-calls.jsonl"
        self.process = None

    def start(self, timeout=10.0):
        self.record_file.write_text("")
        self.process = subprocess.Popen(
            ["/usr/bin/python3", str(STANDIN), self.bus.address, str(self.record_file),
             json.dumps(self.setup)],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL, text=True)
        line = _read_line(self.process, "the stand-in logind", timeout)
        if line != "ready":
            raise RuntimeError(f"the stand-in logind said {line!r} instead of ready")
        return self

    def stop(self):
        if self.process:
            _stop(self.process)
            self.process = None

    def calls(self):
        """Every call so far, oldest first: dicts like {"method": "TerminateSession", "id": ..}."""
        text = self.record_file.read_text() if self.record_file.exists() else ""
        return [json.loads(line) for line in text.splitlines()]

    def calls_of(self, method):
        return [call for call in self.calls() if call["method"] == method]

    def terminated(self):
        return sorted(call["id"] for call in self.calls_of("TerminateSession"))

    def __enter__(self):
        try:
            return self.start()
        except BaseException:
            self.stop()
            raise

    def __exit__(self, *exc):
        self.stop()

