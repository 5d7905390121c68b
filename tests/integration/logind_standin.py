"""A stand-in for systemd-logind on a private D-Bus, for the tests of how fotoauthd ends sessions.

    python3 logind_standin.py BUS_ADDRESS RECORD_FILE SETUP_JSON

Owns org.freedesktop.login1 on the bus at BUS_ADDRESS and serves the three methods of
org.freedesktop.login1.Manager (object /org/freedesktop/login1) that fotoauthd calls, with the
signatures of the real logind:

    ListSessions() -> a(susso)       every session: id, uid, user name, seat, object path
    GetSessionByPID(u pid) -> o      the session of a process
    TerminateSession(s id)

SETUP_JSON is {"sessions": [{"id", "uid", "user", "refuse"?}], "session_of_any_pid": ID or null}:
GetSessionByPID answers the session ID for every pid (the test cannot know in advance which pid
will ask), or the error of the real logind for a process outside any session when it is null. A
session with "refuse": true makes TerminateSession fail, as logind does when it cannot end one.

Every call is appended to RECORD_FILE as one JSON line ({"method": ..., "pid"/"id": ...}) before
it is answered, so the record is complete once the caller has its answer. Prints "ready" on
stdout once the name is owned. Runs until killed.
"""
import json
import sys

import dbus
import dbus.mainloop.glib
import dbus.service
from gi.repository import GLib

NAME = "org.freedesktop.login1"
MANAGER_PATH = "/org/freedesktop/login1"
MANAGER = "org.freedesktop.login1.Manager"


class NoSuchSession(dbus.DBusException):
    _dbus_error_name = "org.freedesktop.login1.NoSuchSession"


class NoSessionForPID(dbus.DBusException):
    _dbus_error_name = "org.freedesktop.login1.NoSessionForPID"


class Refused(dbus.DBusException):
    _dbus_error_name = "org.freedesktop.DBus.Error.AccessDenied"


def session_path(session_id):
    # The real logind escapes ids that are not plain identifiers; the tests only use plain ones.
    return dbus.ObjectPath(f"{MANAGER_PATH}/session/{session_id}")


class Manager(dbus.service.Object):
    def __init__(self, connection, record_file, setup):
        super().__init__(connection, MANAGER_PATH)
        self.record_file = record_file
        self.sessions = {entry["id"]: entry for entry in setup["sessions"]}
        self.session_of_any_pid = setup.get("session_of_any_pid")

    def record(self, **call):
        with open(self.record_file, "a") as out:
            out.write(json.dumps(call) + "\n")

    @dbus.service.method(MANAGER, in_signature="", out_signature="a(susso)")
    def ListSessions(self):
        self.record(method="ListSessions")
        return [(entry["id"], dbus.UInt32(entry["uid"]), entry["user"], "",
                 session_path(entry["id"])) for entry in self.sessions.values()]

    @dbus.service.method(MANAGER, in_signature="u", out_signature="o")
    def GetSessionByPID(self, pid):
        self.record(method="GetSessionByPID", pid=int(pid))
        if self.session_of_any_pid is None:
            raise NoSessionForPID(f"PID {int(pid)} does not belong to any known session")
        return session_path(self.session_of_any_pid)

    @dbus.service.method(MANAGER, in_signature="s", out_signature="")
    def TerminateSession(self, session_id):
        self.record(method="TerminateSession", id=str(session_id))
        entry = self.sessions.get(str(session_id))
        if entry is None:
            raise NoSuchSession(f"No session '{session_id}' known")
        if entry.get("refuse"):
            raise Refused(f"Refusing to end session '{session_id}' (as the test asked)")


def main():
    address, record_file, setup = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])
    dbus.mainloop.glib.DBusGMainLoop(set_as_default=True)
    connection = dbus.bus.BusConnection(address)
    manager = Manager(connection, record_file, setup)
    # do_not_queue: if the name were taken, failing here is clearer than waiting in line.
    name = dbus.service.BusName(NAME, bus=connection, do_not_queue=True)
    print("ready", flush=True)
    GLib.MainLoop().run()
    del manager, name


if __name__ == "__main__":
    main()
