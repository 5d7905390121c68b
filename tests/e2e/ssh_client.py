"""Logs in through the real OpenSSH client, typing answers at its keyboard-interactive prompts.

The client runs under a pseudo-terminal (pexpect) because it reads answers from the terminal,
the way a person types them. Every wait is bounded, and the whole transcript is kept for the
assertion messages. It logs at level INFO: at ERROR, ssh would hide the messages that PAM modules
show without a prompt (sshd sends them as the instruction of a keyboard-interactive request).

A client normally connects from 127.0.0.1; given a ClientHost (client_hosts.py), it runs inside
that host's network namespace and connects from its address. Given an identity (a private key
file, client_keys.py), it offers that key and no other (no agent, no default key files) before
keyboard-interactive, as a person with `AuthenticationMethods publickey,keyboard-interactive`
on the server does.
"""
import io
import os
import re
from dataclasses import dataclass, field

import pexpect

SSH = "/usr/bin/ssh"
SFTP = "/usr/bin/sftp"
# The remote shell expands $(id -un), so the marker only appears when a session really ran.
REMOTE_COMMAND = "echo LOGGED-IN-$(id -un); env"

PASSWORD_PROMPT = r"Password: ?"
CODE_PROMPT = r"Verification code or recovery code: ?"
PROMPT_TIMEOUT = 30
SESSION_TIMEOUT = 30


@dataclass
class Login:
    user: str
    source: str = "127.0.0.1"
    exit_status: int | None = None
    prompts: list = field(default_factory=list)
    transcript: str = ""

    @property
    def logged_in(self):
        return re.search(rf"^LOGGED-IN-{re.escape(self.user)}$", self.transcript, re.M) is not None

    @property
    def code_prompt_shown(self):
        return "code" in self.prompts

    @property
    def password_prompt_shown(self):
        return "password" in self.prompts

    @property
    def refused(self):
        return "Permission denied" in self.transcript and not self.logged_in

    def session_environment(self):
        """The lines that `env` printed in the session, as a dict."""
        after_marker = self.transcript.partition(f"LOGGED-IN-{self.user}\n")[2]
        pairs = (line.split("=", 1) for line in after_marker.splitlines() if "=" in line)
        return {name: value for name, value in pairs}

    def describe(self):
        return (f"ssh from {self.source} as {self.user}: exit status {self.exit_status}, "
                f"prompts {self.prompts}\n"
                f"--- ssh transcript ---\n{self.transcript}")


def key_options(identity):
    if identity is None:
        return ["-o", "PreferredAuthentications=keyboard-interactive",
                "-o", "PubkeyAuthentication=no"]
    return ["-o", "PreferredAuthentications=publickey,keyboard-interactive",
            "-o", "PubkeyAuthentication=yes",
            "-o", "IdentitiesOnly=yes",
            "-o", "IdentityAgent=none",
            "-i", str(identity)]


def client_options(identity=None):
    """The options of every client here; sftp passes them on to the ssh it runs."""
    return [
        "-F", "none",
        *key_options(identity),
        "-o", "PasswordAuthentication=no",
        "-o", "StrictHostKeyChecking=no",
        "-o", "UserKnownHostsFile=/dev/null",
        "-o", "NumberOfPasswordPrompts=1",
        "-o", "ConnectTimeout=10",
        "-o", "LogLevel=INFO",
    ]


def ssh_arguments(host, port, user, bind_address=None, identity=None,
                  remote_command=REMOTE_COMMAND, terminal=False, forward=None):
    """remote_command None asks for a login shell; terminal=True forces a remote terminal.

    forward ("LISTEN_ADDRESS:PORT:HOST:PORT") runs no command at all (ssh -N), only that local
    forward; ssh exits at once when it cannot listen there.
    """
    bind = ["-o", f"BindAddress={bind_address}"] if bind_address else []
    forwarding = [] if forward is None else ["-N", "-L", forward, "-o", "ExitOnForwardFailure=yes"]
    command = [] if remote_command is None or forward is not None else [remote_command]
    return [
        *client_options(identity),
        *bind,
        *forwarding,
        *(["-tt"] if terminal else ["-T"]),
        "-p", str(port),
        f"{user}@{host}",
        *command,
    ]


def sftp_command(host, port, user, identity=None):
    """Debian's sftp client, interactive, to the sftp subsystem of the sshd at host:port."""
    return [SFTP, *client_options(identity), "-P", str(port), f"{user}@{host}"]


def client_environment():
    return {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "HOME": os.environ.get("HOME", "/root"),
            "LANG": "C.UTF-8", "TERM": "dumb"}


def ssh_command(host, port, user, client=None, **options):
    """options: those of ssh_arguments (identity, remote_command, terminal)."""
    if client is None:
        return [SSH, *ssh_arguments(host, port, user, **options)]
    return client.command(SSH, ssh_arguments(host, port, user, bind_address=client.address,
                                             **options))


def spawn_ssh(command):
    program, *arguments = command
    return pexpect.spawn(program, arguments, env=client_environment(),
                         encoding="utf-8", codec_errors="replace", timeout=PROMPT_TIMEOUT)


def ssh_login(host, port, user, password, code=None, client=None, identity=None):
    """Logs in as user; answers the password prompt, and the code prompt when it comes.

    When a code prompt comes although code is None, it is answered with an empty line, and the
    prompt is recorded, so that the test can say that it should not have come.
    """
    login = Login(user=user, source=client.address if client else "127.0.0.1")
    transcript = io.StringIO()
    child = spawn_ssh(ssh_command(host, port, user, client, identity=identity))
    child.logfile_read = transcript
    try:
        answer_prompts(child, login, password, code)
        child.expect(pexpect.EOF, timeout=SESSION_TIMEOUT)
    except pexpect.TIMEOUT:
        login.prompts.append("(timed out)")
    finally:
        child.close(force=True)
        login.exit_status = child.exitstatus
        login.transcript = transcript.getvalue().replace("\r\n", "\n")
    return login


def answer_prompts(child, login, password, code, until=pexpect.EOF):
    """Answers prompts until `until` (a pattern) or the end; True when `until` came."""
    patterns = [PASSWORD_PROMPT, CODE_PROMPT, until, pexpect.EOF]
    while True:
        seen = child.expect(patterns)
        if seen == 2:
            return True
        if seen == 3:
            return False
        if seen == 0:
            login.prompts.append("password")
            if login.prompts.count("password") > 1:
                # NumberOfPasswordPrompts=1 should prevent this; do not loop forever.
                child.sendline("")
                continue
            child.sendline(password)
        else:
            login.prompts.append("code")
            child.sendline(code or "")
