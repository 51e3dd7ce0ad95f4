"""Run the real ``tater-graph`` entry point in-process and capture what a user would see."""

from __future__ import annotations

import signal
import sys
from dataclasses import dataclass

from click.testing import CliRunner

from tater_graph.cli import main


@dataclass(frozen=True)
class CliResult:
    exit_code: int
    stdout: str
    stderr: str

    @property
    def output(self) -> str:
        return self.stdout + self.stderr


def run_main(args: list[str]) -> CliResult:
    """Call :func:`tater_graph.cli.main` with ``args`` as the command line.

    Unlike ``CliRunner.invoke(cli, ...)``, this goes through the error
    handling of ``main``, which turns project errors into ``Error: ...`` and
    exit code 1. Any other exception propagates to the test.
    """
    sigterm = signal.getsignal(signal.SIGTERM)  # main() installs its own handler
    argv = sys.argv
    with CliRunner().isolation() as streams:
        sys.argv = ["tater-graph", *args]
        try:
            main()
            code = 0
        except SystemExit as exit_:
            code = exit_.code if isinstance(exit_.code, int) else 1
        finally:
            sys.argv = argv
            signal.signal(signal.SIGTERM, sigterm)
        stdout, stderr = streams[0].getvalue(), streams[1].getvalue()
    return CliResult(code, stdout.decode(errors="replace"), stderr.decode(errors="replace"))
