"""Login sessions of a test user without sshd or logind: what pam_loginuid makes at login. A
process writes the user's uid to /proc/self/loginuid, and the kernel gives it and its children
a new audit session id; fotoauthd's procfs session ender finds the user's sessions by those."""
import pwd
import signal
import subprocess

NEW_LOGIN_SESSION = 'echo "$1" > /proc/self/loginuid; shift; exec "$@"'


def in_new_login_session(user, command):
    return ["sh", "-c", NEW_LOGIN_SESSION, "login-session", str(user.uid), *command]


def as_account(user, command):
    return ["setpriv", f"--reuid={user.uid}", f"--regid={pwd.getpwnam(user.name).pw_gid}",
            "--init-groups", *command]


def idle_session(user):
    """A process of the user in a login session of its own, like an idle ssh login's shell."""
    return subprocess.Popen(in_new_login_session(user, as_account(user, ["sleep", "600"])))


def ended_by_sigterm(process, timeout=10):
    try:
        return process.wait(timeout=timeout) == -signal.SIGTERM
    except subprocess.TimeoutExpired:
        return False
