"""SSH sessions that stay open while a test does something else, and the way to watch them end.

A session is a real OpenSSH client under a pseudo-terminal (pexpect), logged in through the same
prompts as ssh_client.ssh_login. Three kinds, as people keep them open:

- OpenSession: ssh with a shell or a command. It is "ready" once the remote side printed a
  marker that only a running shell of the user prints (SESSION-READY-<name>, from $(id -un)).
- ForwardSession: `ssh -N -L 127.0.0.1:PORT:127.0.0.1:SSHD_PORT`, no command at all, only a
  forward from a local port to the sshd's own port. It is ready once a connection to the local
  port gets an SSH banner through the tunnel.
- SftpSession: Debian's sftp client at its prompt. It is ready once `cd /` passed. Idle at
  its prompt, sftp does not exit by itself when the connection ends: it says "Connection
  closed." and exits at the next command, which is how its user finds out (OpenSSH 9.2).

Whether a session ended is the client's own view: its process exits when sshd's side of the
connection goes away.
"""
import io
import re
import socket
import time

import pexpect

from ssh_client import (CODE_PROMPT, PASSWORD_PROMPT, Login, answer_prompts, sftp_command,
                        spawn_ssh, ssh_command)

READY_TIMEOUT = 30
CLOSE_TIMEOUT = 10
READY_COMMAND = "echo SESSION-READY-$(id -un)"
# What an OpenSSH server sends first on a connection (RFC 4253, 4.2).
SSH_BANNER = b"SSH-2.0-"
PROBE_TIMEOUT = 2
SFTP_PROMPT = r"sftp> "
SFTP_READY = r"Remote working directory: /\r?\n"
# What sftp says when the ssh it runs as its transport exits (the connection is gone).
SFTP_TRANSPORT_GONE = r"Connection closed\."
# How long sftp may take to exit once it is given a command without a connection.
SFTP_EXIT_TIMEOUT = 5


def ready_marker(user):
    return rf"SESSION-READY-{re.escape(user)}\r?\n"


class ClientSession:
    """A client process logging in as user; what every kind of session has in common.

    Use as a context manager, or call close() (safe to call twice).
    """

    def __init__(self, command, user, password, code, label):
        self.label = label
        self.user = user
        self.login = Login(user=user)
        self.transcript = io.StringIO()
        self.child = spawn_ssh(command)
        self.child.logfile_read = self.transcript
        self._password = password
        self._code = code

    def is_open(self):
        return self.child.isalive()

    def wait_closed(self, timeout=CLOSE_TIMEOUT):
        """True when the client exited within timeout seconds."""
        try:
            self.child.expect(pexpect.EOF, timeout=timeout)
        except pexpect.TIMEOUT:
            return False
        # EOF on the terminal may come a moment before the process is reaped.
        deadline = time.monotonic() + 2
        while self.child.isalive() and time.monotonic() < deadline:
            time.sleep(0.05)
        return True

    def expect(self, pattern, timeout=READY_TIMEOUT):
        """True when pattern comes within timeout seconds."""
        try:
            self.child.expect(pattern, timeout=timeout)
            return True
        except (pexpect.TIMEOUT, pexpect.EOF):
            return False

    def describe(self):
        text = self.transcript.getvalue().replace("\r\n", "\n")
        state = "still open" if self.child.isalive() else f"ended ({self.child.exitstatus})"
        return (f"{self.label} of {self.user}: {state}, prompts {self.login.prompts}\n"
                f"--- {self.label} transcript ---\n{text}")

    def close(self):
        if self.child is not None:
            self.child.close(force=True)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


class OpenSession(ClientSession):
    """shell=True opens an interactive login shell on a remote terminal (as a person at the
    keyboard has); otherwise the session runs `command` after printing the marker, without a
    terminal.
    """

    def __init__(self, host, port, user, password=None, code=None, identity=None,
                 command=None, shell=False, label="session"):
        if shell:
            remote_command, terminal = None, True
        else:
            remote_command = READY_COMMAND + (f"; {command}" if command else "")
            terminal = False
        super().__init__(ssh_command(host, port, user, identity=identity,
                                     remote_command=remote_command, terminal=terminal),
                         user, password, code, label)
        self._shell = shell

    def open(self):
        """Logs in; True once the session runs (see self.login for the prompts)."""
        try:
            if self._shell:
                # The shell's prompt comes after the message of the day: "$ " from the
                # users' /bin/sh.
                if not answer_prompts(self.child, self.login, self._password, self._code,
                                      until=r"[$#] $"):
                    return False
                self.child.sendline(READY_COMMAND)
                self.child.expect(ready_marker(self.user), timeout=READY_TIMEOUT)
                return True
            return answer_prompts(self.child, self.login, self._password, self._code,
                                  until=ready_marker(self.user))
        except (pexpect.TIMEOUT, pexpect.EOF):
            return False

    def run(self, command, expect, timeout=READY_TIMEOUT):
        """Types command into the shell; True when `expect` (a pattern) comes back in time."""
        self.child.sendline(command)
        return self.expect(expect, timeout)

    def type_line(self, text):
        """Types text and Enter at the session's terminal."""
        self.child.sendline(text)

    def answer(self, prompt, text, timeout=READY_TIMEOUT):
        """Waits for prompt (a pattern) and types text; False when it never came."""
        if not self.expect(prompt, timeout):
            return False
        self.child.sendline(text)
        return True


def free_loopback_port():
    """A port of 127.0.0.1 that is free when probed; ssh -L exits at once if it is taken meanwhile
    (ExitOnForwardFailure), which the session's open() reports."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def forward_answers(port):
    """True when a connection to 127.0.0.1:port gets an SSH banner: the tunnel of an ssh -L to
    an sshd is up."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=PROBE_TIMEOUT) as probe:
            probe.settimeout(PROBE_TIMEOUT)
            return probe.recv(len(SSH_BANNER)).startswith(SSH_BANNER)
    except OSError:
        return False


class ForwardSession(ClientSession):
    """ssh -N forwarding 127.0.0.1:local_port to port (the sshd's own) on 127.0.0.1, through
    the sshd at 127.0.0.1:port; nothing else runs in the session."""

    def __init__(self, port, user, local_port, password=None, code=None, identity=None,
                 label="forward"):
        super().__init__(ssh_command("127.0.0.1", port, user, identity=identity,
                                     forward=f"127.0.0.1:{local_port}:127.0.0.1:{port}"),
                         user, password, code, label)
        self.local_port = local_port

    def open(self):
        """Logs in; True once the forward carries a connection to the sshd.

        No output marks the end of the login (there is no command to print one), so the
        prompts are answered as they come while the forward is tried between them.
        """
        deadline = time.monotonic() + READY_TIMEOUT
        patterns = [PASSWORD_PROMPT, CODE_PROMPT, pexpect.EOF, pexpect.TIMEOUT]
        while time.monotonic() < deadline:
            seen = self.child.expect(patterns, timeout=0.2)
            if seen == 0:
                self.login.prompts.append("password")
                self.child.sendline(self._password)
            elif seen == 1:
                self.login.prompts.append("code")
                self.child.sendline(self._code or "")
            elif seen == 2:
                return False
            elif self.forward_answers():
                return True
        return False

    def forward_answers(self):
        return forward_answers(self.local_port)


class SftpSession(ClientSession):
    """Debian's sftp client, logged in and waiting at its prompt."""

    def __init__(self, port, user, password=None, code=None, identity=None, label="sftp"):
        super().__init__(sftp_command("127.0.0.1", port, user, identity=identity), user,
                         password, code, label)

    def open(self):
        """Logs in; True once the sftp server answered a request."""
        try:
            if not answer_prompts(self.child, self.login, self._password, self._code,
                                  until=SFTP_PROMPT):
                return False
        except pexpect.TIMEOUT:
            return False
        return self.server_answers()

    def wait_closed(self, timeout=CLOSE_TIMEOUT):
        """True when the connection ended within timeout seconds and sftp then exited at the
        next command, as it does for the person at its prompt (the command is typed here)."""
        try:
            seen = self.child.expect([SFTP_TRANSPORT_GONE, pexpect.EOF], timeout=timeout)
        except pexpect.TIMEOUT:
            return False
        if seen == 0:
            # `pwd` would not do: sftp answers it from memory.
            self.child.sendline("ls")
        return super().wait_closed(timeout=SFTP_EXIT_TIMEOUT)

    def server_answers(self):
        """Changes to / on the server, which must check it; True when sftp then says so."""
        self.child.sendline("cd /")
        if not self.expect(SFTP_PROMPT):
            return False
        self.child.sendline("pwd")
        return self.expect(SFTP_READY) and self.expect(SFTP_PROMPT)
