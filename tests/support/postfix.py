"""The real Postfix for the mail tests: started for local delivery only, stopped afterwards, and
the system left as it was found.

postfix_running() configures Postfix (main.cf) to listen on 127.0.0.1 only, to deliver only to
local mailboxes (/var/mail/USER) and to send nothing anywhere else, starts it without systemd and
waits until it answers on 127.0.0.1:25. Afterwards it stops Postfix, puts main.cf back as it was,
and empties the queue if it was empty before. When Postfix was already running it is used as it
is and left running. Needs root; tests/support/postfix.sh installs Postfix without questions.
"""
import email.policy
import mailbox
import shutil
import socket
import subprocess
import tempfile
import time
from contextlib import contextmanager
from dataclasses import dataclass
from email.parser import BytesParser
from pathlib import Path

MAIN_CF = Path("/etc/postfix/main.cf")
SPOOL = Path("/var/mail")
QUEUE = Path("/var/spool/postfix")
# The queue folders that hold messages not yet delivered.
QUEUE_FOLDERS = ("maildrop", "incoming", "active", "deferred", "hold")
# Debian's helper that copies resolv.conf and friends into Postfix's chroot, as its systemd
# unit does before every start.
CONFIGURE_INSTANCE = Path("/usr/lib/postfix/configure-instance.sh")


@dataclass
class Postfix:
    """The running Postfix: its mail domain and, when these tests started it, its log file."""
    mailname: str
    log_path: Path = None

    def log(self):
        if self.log_path and self.log_path.exists():
            return self.log_path.read_text(errors="replace")
        return "(Postfix was already running: its log is wherever the system keeps it)"


def installed():
    return shutil.which("postfix") is not None and MAIN_CF.exists()


def is_running():
    return subprocess.run(["postfix", "status"], stdout=subprocess.DEVNULL,
                          stderr=subprocess.DEVNULL).returncode == 0


def postconf(name):
    return subprocess.run(["postconf", "-h", name], capture_output=True, text=True,
                          check=True).stdout.strip()


def smtp_answers(timeout=1.0):
    """True when 127.0.0.1:25 greets with 220."""
    try:
        with socket.create_connection(("127.0.0.1", 25), timeout=timeout) as connection:
            connection.settimeout(timeout)
            return connection.recv(512).startswith(b"220")
    except OSError:
        return False


def queued_files():
    found = []
    for folder in QUEUE_FOLDERS:
        path = QUEUE / folder
        if path.is_dir():
            found += [p for p in path.rglob("*") if p.is_file()]
    return found


def queue_is_empty():
    return not queued_files()


def _settings(log_path):
    return {
        "inet_interfaces": "loopback-only",
        "inet_protocols": "ipv4",
        "mydestination": "$myhostname, localhost.$mydomain, localhost",
        # Nothing ever leaves this machine: every non-local destination is an error.
        "relayhost": "",
        "default_transport": "error",
        "relay_transport": "error",
        # Plain mbox files in /var/mail, nothing run on delivery.
        "mailbox_command": "",
        "home_mailbox": "",
        "mail_spool_directory": str(SPOOL),
        "maillog_file": str(log_path),
    }


def _run(command):
    result = subprocess.run(command, capture_output=True, text=True)
    if result.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} failed:\n{result.stdout}{result.stderr}")


def _wait(condition, timeout, what, postfix=None):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.1)
    log = postfix.log() if postfix else ""
    raise RuntimeError(f"Postfix: {what} within {timeout} s\n{log}")


def _start(log_path):
    for name, value in _settings(log_path).items():
        _run(["postconf", "-e", f"{name}={value}"])
    if CONFIGURE_INSTANCE.exists():
        _run([str(CONFIGURE_INSTANCE), "-"])
    _run(["newaliases"])
    _run(["postfix", "start"])


def _stop():
    subprocess.run(["postfix", "stop"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 20
    while is_running() and time.monotonic() < deadline:
        time.sleep(0.1)
    if is_running():
        subprocess.run(["postfix", "abort"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


@contextmanager
def postfix_running(timeout=30):
    """Yields a Postfix that delivers locally and answers on 127.0.0.1:25 (see the module)."""
    if not installed():
        raise RuntimeError("Postfix is not installed (tests/support/postfix.sh installs it)")
    if is_running():
        _wait(smtp_answers, timeout, "the running Postfix does not answer on 127.0.0.1:25")
        yield Postfix(mailname=postconf("myhostname"))
        return

    saved_main_cf = MAIN_CF.read_bytes()
    queue_was_empty = queue_is_empty()
    log_dir = Path(tempfile.mkdtemp(prefix="fsauth-postfix-", dir="/var/tmp"))
    running = Postfix(mailname="", log_path=log_dir / "maillog")
    try:
        _start(running.log_path)
        running.mailname = postconf("myhostname")
        _wait(is_running, timeout, "`postfix status` does not say running", running)
        _wait(smtp_answers, timeout, "nothing answers on 127.0.0.1:25", running)
        yield running
    finally:
        _stop()
        MAIN_CF.write_bytes(saved_main_cf)
        if queue_was_empty and not queue_is_empty():
            # Mail the tests left undelivered would otherwise be retried at the next start.
            subprocess.run(["postsuper", "-d", "ALL"], stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL)
        shutil.rmtree(log_dir, ignore_errors=True)


def mailbox_path(user):
    return SPOOL / user


def mailbox_messages(user):
    """The messages in /var/mail/USER now, parsed (email.message.EmailMessage); [] if none."""
    path = mailbox_path(user)
    if not path.exists() or path.stat().st_size == 0:
        return []
    parse = BytesParser(policy=email.policy.default).parse
    box = mailbox.mbox(str(path), factory=parse, create=False)
    try:
        return list(box)
    finally:
        box.close()


def read_mailbox(user, timeout=30):
    """Waits until /var/mail/USER holds a message that is completely written, and returns it
    parsed. Raises TimeoutError when none arrives in time. When there are several, the first."""
    path = mailbox_path(user)
    deadline = time.monotonic() + timeout
    last_size = -1
    while time.monotonic() < deadline:
        size = path.stat().st_size if path.exists() else 0
        # Postfix writes a message in pieces: wait until the size holds still for a moment.
        if size > 0 and size == last_size:
            messages = mailbox_messages(user)
            if messages:
                return messages[0]
        last_size = size
        time.sleep(0.2)
    raise TimeoutError(f"no mail arrived in {path} within {timeout} s")


def wait_for_empty_queue(timeout=30):
    """Waits until Postfix holds no message in its queue: everything delivered or bounced."""
    _wait(queue_is_empty, timeout, "the queue did not empty")
