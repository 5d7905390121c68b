"""The C++ sources keep the layout of .clang-format (CODING_STYLE.md): the formatter is run by
the tests, so that a change that breaks the layout fails here rather than in review."""
import shutil
import subprocess
from pathlib import Path

import pytest

TOP = Path(__file__).resolve().parents[2]


def cpp_sources():
    listed = subprocess.run(["git", "-C", str(TOP), "ls-files", "*.cpp", "*.hpp"],
                            capture_output=True, text=True, check=True).stdout.split()
    return [TOP / name for name in listed]


@pytest.mark.skipif(shutil.which("clang-format") is None, reason="clang-format is not installed")
def test_every_cpp_source_is_laid_out_as_clang_format_says():
    sources = cpp_sources()
    assert len(sources) > 40, "the source list looks wrong"
    result = subprocess.run(["clang-format", "--dry-run", "--Werror", *map(str, sources)],
                            capture_output=True, text=True)
    assert result.returncode == 0, "run clang-format -i on:\n" + "\n".join(
        sorted({line.split(":")[0] for line in result.stderr.splitlines() if ": error:" in line}))
