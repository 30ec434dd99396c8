"""Command lines whose usage errors exit with status 1.

argparse exits with 2 on a usage error; for linkhealth's commands 2 means "``--fail-on``
matched" (docs/reports.md), so a CI job must not take a typo for broken links.
"""

from __future__ import annotations

import argparse
import sys
from typing import NoReturn

EXIT_USAGE = 1


class ArgumentParser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        self.print_usage(sys.stderr)
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message}\n")
