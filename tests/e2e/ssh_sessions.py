"""SSH sessions that stay open while a test does something else, and the way to watch them end.

A session is the real ssh client under a pseudo-terminal (pexpect), logged in through the same
prompts as ssh_client.ssh_login. It is "ready" once the remote side printed a marker that only a
running shell of the user prints (SESSION-READY-<name>, from $(id -un)). Whether it ended is the
client's own view: its ssh process exits when sshd's side of the connection goes away.
"""
import io
import re
import time

import pexpect

from ssh_client import Login, answer_prompts, spawn_ssh, ssh_command

READY_TIMEOUT = 30
CLOSE_TIMEOUT = 10
READY_COMMAND = "echo SESSION-READY-$(id -un)"


def ready_marker(user):
    return rf"SESSION-READY-{re.escape(user)}\r?\n"


class OpenSession:
    """Use as a context manager, or call close() (safe to call twice).

    shell=True opens an interactive login shell on a remote terminal (as a person at the
    keyboard has); otherwise the session runs `command` after printing the marker, without a
    terminal.
    """

    def __init__(self, host, port, user, password=None, code=None, identity=None,
                 command=None, shell=False, label="session"):
        self.label = label
        self.user = user
        self.login = Login(user=user)
        self.transcript = io.StringIO()
        if shell:
            remote_command, terminal = None, True
        else:
            remote_command = READY_COMMAND + (f"; {command}" if command else "")
            terminal = False
        self.child = spawn_ssh(ssh_command(host, port, user, identity=identity,
                                           remote_command=remote_command, terminal=terminal))
        self.child.logfile_read = self.transcript
        self._password = password
        self._code = code
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

    def run(self, command, expect, timeout=READY_TIMEOUT):
        """Types command into the shell; True when `expect` (a pattern) comes back in time."""
        self.child.sendline(command)
        return self.expect(expect, timeout)

    def type_line(self, text):
        """Types text and Enter at the session's terminal."""
        self.child.sendline(text)

    def expect(self, pattern, timeout=READY_TIMEOUT):
        """True when pattern comes within timeout seconds."""
        try:
            self.child.expect(pattern, timeout=timeout)
            return True
        except (pexpect.TIMEOUT, pexpect.EOF):
            return False

    def answer(self, prompt, text, timeout=READY_TIMEOUT):
        """Waits for prompt (a pattern) and types text; False when it never came."""
        if not self.expect(prompt, timeout):
            return False
        self.child.sendline(text)
        return True

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
