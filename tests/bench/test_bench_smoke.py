"""The benchmark harness in a quick run (bench/smoke.sh): a few hundred PAM transactions through
pam_permit, google-authenticator, pam_oath and pam_fotostudio, each ending as it should (right
codes accepted, wrong and replayed ones refused, no lost update). It checks the counts, never the
speed: timings belong to bench/run-compare.sh and bench/README.md."""
import subprocess

from support.paths import TOP


def test_every_configuration_of_the_benchmark_ends_as_it_should():
    result = subprocess.run(["bash", str(TOP / "bench" / "smoke.sh")], capture_output=True,
                            text=True, timeout=900)
    last = result.stdout.strip().splitlines()[-1] if result.stdout.strip() else ""
    assert result.returncode == 0 and last.endswith(" 0 failed"), result.stdout + result.stderr
    assert int(last.split()[0]) >= 10, last
