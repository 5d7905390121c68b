"""A running fotoauthd with one or more private sshds that ask it (a "rig"): logs in through
them, runs the real fotoauthctl as root, and explains a failure with the logs of every part.
"""
import subprocess
from dataclasses import dataclass, field
from typing import Callable

import pytest

from support.daemon import Daemon
from support.paths import FOTOAUTHCTL, FOTOAUTHD, PAM_MODULE

from private_sshd import PrivateSshd, fotostudio_stack, new_service_name
from ssh_client import ssh_login
from ssh_sessions import ForwardSession, OpenSession, SftpSession, free_loopback_port

LOG_TAIL_LINES = 80
LOOPBACK = "127.0.0.1"
CTL_TIMEOUT = 20
# Tests that are not about the brute-force limits must not run into them: they log in many
# times from 127.0.0.1 and answer wrong codes on purpose.
RAISED_LIMITS = ("login_source_attempts = 1000\n"
                 "login_user_attempts = 1000\n"
                 "code_attempts = 1000\n")


def tail(text, lines=LOG_TAIL_LINES):
    return "\n".join(text.splitlines()[-lines:])


class LoginRig:
    """A running fotoauthd and an sshd whose PAM stack asks it; logs in and explains failures.

    others names further sshds that ask the same daemon; `via` picks one of them.
    """

    def __init__(self, daemon, sshd, server_address=LOOPBACK, others=None):
        self.daemon = daemon
        self.sshd = sshd
        self.server_address = server_address
        self.others = dict(others or {})

    def sshd_named(self, via):
        return self.sshd if via is None else self.others[via]

    def all_sshds(self):
        listed = []
        for sshd in (self.sshd, *self.others.values()):
            if sshd is not None and all(sshd is not seen for seen in listed):
                listed.append(sshd)
        return listed

    def login(self, user, password=None, code=None, client=None, identity=None, via=None):
        """From 127.0.0.1, or from a ClientHost of the client network to its server address.

        identity (a private key file) logs in with that key first, then keyboard-interactive.
        """
        host = self.server_address if client else LOOPBACK
        return ssh_login(host, self.sshd_named(via).port, user.name,
                         password or user.password, code, client=client, identity=identity)

    def session(self, user, password=None, code=None, identity=None, via=None, command=None,
                shell=False, label="session"):
        """An OpenSession from 127.0.0.1, not logged in yet (call its open())."""
        return OpenSession(LOOPBACK, self.sshd_named(via).port, user.name,
                           password=password or user.password, code=code, identity=identity,
                           command=command, shell=shell, label=label)

    def forward_session(self, user, password=None, code=None, via=None, label="forward"):
        """A ForwardSession (ssh -N -L from a free port of 127.0.0.1 to the sshd's own port),
        not logged in yet; the sshd must allow it (forward_to_itself)."""
        return ForwardSession(self.sshd_named(via).port, user.name, free_loopback_port(),
                              password=password or user.password, code=code, label=label)

    def sftp_session(self, user, password=None, code=None, via=None, label="sftp"):
        """An SftpSession, not logged in yet; the sshd must serve sftp."""
        return SftpSession(self.sshd_named(via).port, user.name,
                           password=password or user.password, code=code, label=label)

    def fotoauthctl(self, *arguments):
        """Runs the real CLI as root (as an administrator would) against this daemon."""
        return subprocess.run([str(FOTOAUTHCTL), "--socket", str(self.daemon.socket),
                               *arguments], capture_output=True, text=True,
                              stdin=subprocess.DEVNULL, timeout=CTL_TIMEOUT)

    def explain(self, login=None, *more):
        """login (a Login or an OpenSession) and more of them, then every log of the rig."""
        parts = [thing.describe() for thing in (login, *more) if thing is not None]
        for sshd in self.all_sshds():
            parts.append(f"--- sshd.log of {sshd.service} (last {LOG_TAIL_LINES} lines) ---\n"
                         f"{tail(sshd.log())}")
        parts.append(f"--- fotoauthd log (last {LOG_TAIL_LINES} lines) ---\n"
                     f"{tail(self.daemon.log())}")
        return "\n".join(parts)


def require_build():
    missing = [str(path) for path in (FOTOAUTHD, PAM_MODULE, FOTOAUTHCTL) if not path.exists()]
    if missing:
        pytest.fail("not built (run scripts/test.sh, or ninja -C build): " + ", ".join(missing))


def start_rig(extra_config=RAISED_LIMITS, server_address=None, pam_stack=fotostudio_stack):
    """sshd listens on 127.0.0.1, and on server_address when given (the client network's)."""
    require_build()
    daemon = Daemon(extra_config=extra_config, confined=True)
    sshd = None
    listen = (LOOPBACK, server_address) if server_address else (LOOPBACK,)
    try:
        daemon.start()
        sshd = PrivateSshd(pam_stack(PAM_MODULE, daemon.socket),
                           listen_addresses=listen).start()
        return LoginRig(daemon, sshd, server_address or LOOPBACK)
    except BaseException:
        stop_rig(daemon, sshd)
        raise


def stop_rig(daemon, *sshds):
    try:
        for sshd in sshds:
            if sshd is not None:
                sshd.close()
    finally:
        daemon.stop()
        daemon.cleanup()


@dataclass
class SshdSpec:
    """One sshd of a rig: its PAM stack and the PAM files its sessions see, each made from
    (module path, daemon socket); methods is its AuthenticationMethods; forward_to_itself and
    sftp as for PrivateSshd."""
    stack: Callable
    methods: str = "keyboard-interactive"
    namespace_services: dict = field(default_factory=dict)
    forward_to_itself: bool = False
    sftp: bool = False


def start_multi_rig(specs, extra_config=RAISED_LIMITS, server_address=None):
    """One daemon and an sshd per spec (a dict name -> SshdSpec); the first is rig.sshd, every
    one is rig.others[name]. The daemon's device_trust_services and require_code_services list
    exactly these sshds' PAM services: sshd names its service after the program name, and the
    tests' sshds are not called `sshd` (the default of both lists). Every sshd listens on
    127.0.0.1, and on server_address when given (the client network's)."""
    require_build()
    services = {name: new_service_name() for name in specs}
    listed = " ".join(services.values())
    daemon = Daemon(confined=True, extra_config=extra_config +
                    f"device_trust_services = {listed}\nrequire_code_services = {listed}\n")
    listen = (LOOPBACK, server_address) if server_address else (LOOPBACK,)
    sshds = {}
    try:
        daemon.start()
        for name, spec in specs.items():
            namespace = {service: make(PAM_MODULE, daemon.socket)
                         for service, make in spec.namespace_services.items()}
            sshds[name] = PrivateSshd(spec.stack(PAM_MODULE, daemon.socket), methods=spec.methods,
                                      listen_addresses=listen, service=services[name],
                                      namespace_services=namespace,
                                      forward_to_itself=spec.forward_to_itself,
                                      sftp=spec.sftp).start()
        first = next(iter(sshds.values()))
        return LoginRig(daemon, first, server_address=server_address or LOOPBACK, others=sshds)
    except BaseException:
        stop_rig(daemon, *sshds.values())
        raise


def stop_multi_rig(rig):
    stop_rig(rig.daemon, *rig.others.values())
