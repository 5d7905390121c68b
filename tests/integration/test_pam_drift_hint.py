"""A phone whose clock runs ahead, at the code prompt of the real pam_fotostudio.so run by
libpam against the real fotoauthd (default totp_window = 1, totp_drift_search = 10).

A code of a step outside the accepted window fails like any wrong code, and fotoauthd burns its
step: that code is never accepted, not even once its time has come. After two consistent
measurements in a row the user is told, beside the refusal, to let the phone set its time
automatically. The right code of the current step still logs in.

The codes come from oathtool, not from the daemon. The phone here is two and then three steps
(one to one and a half minutes) ahead: the least outside the window, so that the first burned
step comes inside the window at the next step, within 30 s, and the test need not wait longer.
"""
import time

import pytest

from pam_harness import module_line
from support.enrolment import STEP, enrol, totp

SERVICE = "fotostudio-test"
WRONG = "Wrong password or verification code."
# Room left in a step before a code is typed, so that the step does not change between the
# moment its offset is chosen and the moment the daemon checks it.
MARGIN = 4


def step_of(when):
    return int(when) // STEP


def wait_for_room_in_this_step():
    """Returns the current step once at least MARGIN seconds of it are left."""
    if STEP - time.time() % STEP < MARGIN:
        time.sleep(STEP - time.time() % STEP + 0.2)
    return step_of(time.time())


def wait_for_step(step):
    pause = step * STEP + 0.2 - time.time()
    if pause > 0:
        time.sleep(pause)


@pytest.fixture
def code_prompt(daemon, pam):
    """Types one code at the module's prompt (auth stage): pam-driver's transaction."""
    pam.service(module_line("auth", daemon.socket), name=SERVICE)

    def type_code(user_name, code):
        return pam.run(user_name, [code], stage="auth", service=SERVICE)

    return type_code


def test_a_phone_ahead_is_refused_told_after_two_tries_and_its_codes_are_burned(
        daemon, user, code_prompt):
    enrolment = enrol(daemon.socket, user.name)
    now = wait_for_room_in_this_step()

    # Two steps ahead: just outside the window. Refused, no hint after one try.
    first_code = totp(enrolment.secret, (now + 2) * STEP)
    first = code_prompt(user.name, first_code)

    assert first.auth == "PAM_AUTH_ERR", (first.stdout, daemon.log())
    assert first.errors == [WRONG] and first.infos == [], first.stdout
    assert step_of(time.time()) == now, "the step changed while the test typed the code"

    # Three steps ahead: consistent with the first try, so the user is told.
    second_code = totp(enrolment.secret, (now + 3) * STEP)
    second = code_prompt(user.name, second_code)

    assert second.auth == "PAM_AUTH_ERR", (second.stdout, daemon.log())
    assert second.errors == [WRONG], second.stdout
    [hint] = second.infos
    assert "about 2 minutes ahead" in hint and "automatically" in hint, hint
    assert first_code not in hint and second_code not in hint
    log = daemon.log()
    assert "the phone's clock seems off" in log
    assert first_code not in log and second_code not in log

    # The next step: the first code is now inside the window, but its step was burned.
    wait_for_step(now + 1)
    burned = code_prompt(user.name, first_code)

    assert burned.auth == "PAM_AUTH_ERR", (burned.stdout, daemon.log())
    assert burned.errors == [WRONG] and burned.infos == [], burned.stdout

    # The right code of the current step still logs in.
    current = code_prompt(user.name, totp(enrolment.secret, time.time()))

    assert current.auth == "PAM_SUCCESS", (current.stdout, daemon.log())
    assert current.errors == [] and current.infos == [], current.stdout
