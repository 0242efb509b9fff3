"""The picodiff command line: a thin layer that parses arguments and calls the library.

Examples:
    picodiff --version
    picodiff convert-pb2025 pb2025_model.pth models/pb2025-84 --image-size 84 --T 500

Each sub-command lives in its own module exposing `add_arguments(parser)` and `run(args)`;
COMMANDS maps its name to that module and a one-line description. Only the module of the
command being run is imported, so `picodiff --help` loads neither torch nor Flask.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import os
import signal
import sys
import threading
import warnings

from . import __version__
from .deprecation import warn_renamed
from .errors import DiskFull, UserError

COMMANDS: dict[str, tuple[str, str]] = {
    "prepare": ("picodiff.commands.prepare", "turn images into a training-ready dataset store"),
    "info": ("picodiff.commands.info", "print a dataset store's summary"),
    "train": ("picodiff.commands.train", "train a DDPM on a dataset store"),
    "sample": ("picodiff.commands.sample", "draw images from a checkpoint (PNGs, grid, animation)"),
    "fid": ("picodiff.commands.fid", "FID and KID of samples against a dataset store"),
    "report": ("picodiff.commands.report", "compare model versions side by side (HTML, markdown)"),
    "serve": ("picodiff.commands.serve", "serve models over a REST API (and the web page)"),
    "worker": ("picodiff.commands.worker", "draw a cluster's jobs (Redis) on one device"),
    "convert-pb2025": (
        "picodiff.commands.convert_pb2025",
        "turn a .pth of the 2025 Pico-Banana student project into a checkpoint",
    ),
}
RENAMED = {"convert-seed": "convert-pb2025"}  # old command names, accepted for one release


class HelpFormatter(argparse.RawDescriptionHelpFormatter, argparse.ArgumentDefaultsHelpFormatter):
    """Keeps the examples in a command's docstring as written and shows every default."""


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The parser; only `command`'s module is imported (to add its arguments)."""
    parser = argparse.ArgumentParser(
        prog="picodiff",
        description="Train, evaluate and serve denoising diffusion (DDPM) image generators.",
        epilog="Run 'picodiff COMMAND --help' for a command's options.",
    )
    parser.add_argument("--version", action="version", version=f"picodiff {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, (module_name, description) in COMMANDS.items():
        if name != command:
            sub.add_parser(name, help=description, add_help=False)
            continue
        module = importlib.import_module(module_name)
        selected = sub.add_parser(
            name,
            help=description,
            description=(module.__doc__ or description).strip(),
            formatter_class=HelpFormatter,
        )
        module.add_arguments(selected)
        selected.set_defaults(run=module.run)
    return parser


def main(argv: list[str] | None = None) -> int:
    shown, warnings.showwarning = warnings.showwarning, _print_warning
    try:
        return _run(list(sys.argv[1:] if argv is None else argv))
    finally:
        warnings.showwarning = shown


def _run(argv: list[str]) -> int:
    if argv and argv[0] in RENAMED:
        warn_renamed("command", argv[0], RENAMED[argv[0]])
        argv[0] = RENAMED[argv[0]]
    command = argv[0] if argv and argv[0] in COMMANDS else None
    parser = build_parser(command)
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 0
    try:
        try:
            with _sigterm_as_interrupt():
                return int(args.run(args) or 0)
        except OSError as err:  # a full disk anywhere: one line, not a traceback
            DiskFull.check(err, "its output")
            raise
    except UserError as err:
        print(f"picodiff {args.command}: error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"picodiff {args.command}: interrupted", file=sys.stderr)
        return 130


@contextlib.contextmanager
def _sigterm_as_interrupt():
    """SIGTERM stops a command as Ctrl-C does: partial outputs are removed, not left."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    owner = os.getpid()

    def interrupt(signum, frame):
        if os.getpid() != owner:  # a forked worker (prepare's decoders): end as SIGTERM would
            signal.signal(signal.SIGTERM, signal.SIG_DFL)
            os.kill(os.getpid(), signal.SIGTERM)
            return
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _print_warning(message, category, filename, lineno, file=None, line=None) -> None:
    """Warnings as one line for the person at the terminal, not a source location."""
    print(f"picodiff: warning: {message}", file=file or sys.stderr)
