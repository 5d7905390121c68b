"""End to end, over the real sshd: MFA changed after enrolment with the real fotoauthctl. New
recovery codes replace the old ones at the SSH prompt, and root turning MFA off for a user who
lost everything lets that user in with the password alone. Each change leaves an audit record."""
import io

import pexpect

from cli_enrolment import (CLI_TIMEOUT, CODE_PROMPT, RECOVERY_CODE, RECOVERY_CODE_COUNT,
                           RECOVERY_HEADING, enable_mfa, explain, totp)
from support.paths import FOTOAUTHCTL


def regenerate_recovery_codes(user, socket_path, code):
    """Runs `fotoauthctl recovery-codes regenerate` as the user; returns the new codes."""
    transcript = io.StringIO()
    child = pexpect.spawn("runuser", ["-u", user, "--", str(FOTOAUTHCTL), "--socket",
                                      str(socket_path), "recovery-codes", "regenerate"],
                          encoding="utf-8", codec_errors="replace", timeout=CLI_TIMEOUT,
                          dimensions=(80, 200))
    child.logfile_read = transcript
    try:
        child.expect(CODE_PROMPT)
        child.sendline(code)
        child.expect(RECOVERY_HEADING)
        child.expect(pexpect.EOF)
        codes = RECOVERY_CODE.findall(child.before.replace("\r\n", "\n"))
    except (pexpect.TIMEOUT, pexpect.EOF):
        raise AssertionError(explain("recovery-codes regenerate failed", transcript)) from None
    finally:
        child.close(force=True)
    assert child.exitstatus == 0, explain("recovery-codes regenerate failed", transcript)
    assert len(codes) == RECOVERY_CODE_COUNT, explain("not ten codes", transcript)
    return codes


def test_new_recovery_codes_work_at_the_ssh_prompt_and_the_old_ones_no_longer_do(rig, make_user):
    user = make_user()
    enrolment = enable_mfa(user.name, rig.daemon.socket)

    new_codes = regenerate_recovery_codes(user.name, rig.daemon.socket,
                                          totp(enrolment.secret, offset_steps=1))

    old = rig.login(user, code=enrolment.recovery_codes[0])
    assert old.code_prompt_shown, rig.explain(old)
    assert not old.logged_in, "an old recovery code still works\n" + rig.explain(old)
    new = rig.login(user, code=new_codes[0])
    assert new.logged_in, "a new recovery code was refused\n" + rig.explain(new)
    assert "FOTOSTUDIO_EVENT=recovery-codes-regenerated" in rig.daemon.log()


def test_root_turns_mfa_off_and_the_user_logs_in_with_the_password_alone(rig, make_user):
    user = make_user()
    enable_mfa(user.name, rig.daemon.socket)

    result = rig.fotoauthctl("mfa", "disable", "--user", user.name, "--reason",
                             "lost phone and codes, identity checked in person", "--yes")
    assert result.returncode == 0, result.stdout + result.stderr

    after = rig.login(user)
    assert not after.code_prompt_shown, "a code was still asked\n" + rig.explain(after)
    assert after.logged_in, rig.explain(after)
    log = rig.daemon.log()
    assert "FOTOSTUDIO_EVENT=mfa-disabled" in log
    assert "lost phone and codes, identity checked in person" in log
