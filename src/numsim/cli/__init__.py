"""The numsim command line: `numsim numbers ...`, `numsim demo`, ..."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from typing import NoReturn

from ..credentials import CredentialError
from ..errors import (
    BackendMisconfigured,
    BackendUnavailable,
    ImportFileError,
    InvalidNumberError,
    RegistryError,
    UnknownNumberError,
    UnknownTemplateError,
)
from ..extras import MissingExtra
from . import check, demo, evaluate, numbers, serve, simulate, size

# Bad input a user can fix: printed as one line, exit code 1, no traceback.
USER_ERRORS = (
    BackendMisconfigured,
    BackendUnavailable,
    ImportFileError,
    InvalidNumberError,
    RegistryError,
    UnknownNumberError,
    UnknownTemplateError,
    CredentialError,
    MissingExtra,  # a command needs an extra that is not installed
    ValueError,
    OSError,
)


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        """One line, not argparse's usage block: bad input is one readable line."""
        self.exit(1, f"{self.prog}: error: {message} (see {self.prog} --help)\n")

    def parse_command(self, argv: Sequence[str] | None) -> argparse.Namespace:
        """parse_args, but an argument the command does not take is refused in the name
        of that command (`numsim numbers add`), whose --help lists what it takes."""
        parsed, extras = self.parse_known_args(argv)
        if extras:
            _given(self, parsed).error(f"unrecognized arguments: {' '.join(extras)}")
        return parsed


def _given(parser: argparse.ArgumentParser, parsed: argparse.Namespace) -> argparse.ArgumentParser:
    """The innermost (sub)command of `parser` that `parsed` names."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            chosen = action.choices.get(getattr(parsed, action.dest, None) or "")
            if chosen is not None:
                return _given(chosen, parsed)
    return parser


def build_parser() -> _Parser:
    parser = _Parser(prog="numsim", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    numbers.register(commands)
    simulate.register(commands)
    size.register(commands)
    evaluate.register(commands)
    demo.register(commands)
    check.register(commands)
    serve.register(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    try:
        args = build_parser().parse_command(argv)
    except SystemExit as exit_:  # usage errors (1) and --help (0)
        return int(exit_.code or 0)
    try:
        code = int(args.run(args) or 0)
        sys.stdout.flush()  # a closed pipe shows here, not at interpreter exit
        return code
    except BrokenPipeError:
        # The reader went away (`numsim numbers export | head`): stop quietly, as Unix
        # tools do, with SIGPIPE's status; stdout goes to devnull for the exit flush.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141
    except USER_ERRORS as error:
        print(f"numsim: error: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
