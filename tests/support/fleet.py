"""Daemons of one fleet: several real fotoauthd processes keeping their state in one PostgreSQL
database (docs/fleet.md), each with its own socket, state folder and server name."""
import shutil

from .daemon import Daemon


# A daemon in a PID namespace of its own sees none of this machine's processes in its /proc, as
# the daemon of another server would not: the sessions of a test user are then on "this" server
# only. --kill-child passes the test's SIGTERM on to the daemon.
OTHER_MACHINE = ("unshare", "--pid", "--fork", "--mount-proc", "--kill-child=SIGTERM")


def fleet_daemon(conninfo, server_name, key_from=None, extra_config="", wrapper=()):
    """A started fotoauthd on the database libpq's `conninfo` names (support/postgres.py:
    cluster.conninfo(database)); with key_from, the
    keys are copied from that daemon's state folder first, as docs/fleet.md tells an
    administrator. extra_config: more lines of fotoauthd.conf (limits, windows); wrapper: see
    support/daemon.py (OTHER_MACHINE)."""
    running = Daemon(wrapper=wrapper, extra_config=extra_config +
                     "store = postgresql\n"
                     f"postgresql = {conninfo}\n"
                     f"server_name = {server_name}\n")
    if key_from:
        state = running.database.parent
        state.mkdir(mode=0o700)
        for key in ("secrets.key", "shadow-digest.key"):
            shutil.copy2(key_from.database.parent / key, state / key)
    return running.start()


def stop_all(*daemons):
    """Stops and removes every daemon that was started (None for one that was not)."""
    for running in daemons:
        if running:
            running.stop()
            running.cleanup()
