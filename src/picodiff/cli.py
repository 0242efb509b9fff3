"""The picodiff command line: a thin layer that parses arguments and calls the library.

Examples:
    picodiff --version
    picodiff convert-seed seed_model.pth models/seed-84 --image-size 84 --T 500

Each sub-command lives in its own module exposing `add_arguments(parser)` and `run(args)`;
COMMANDS maps its name to that module and a one-line description.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from . import __version__
from .errors import UserError

COMMANDS: dict[str, tuple[str, str]] = {
    "convert-seed": (
        "picodiff.commands.convert_seed",
        "turn a seed-project .pth into a checkpoint",
    ),
    "prepare": ("picodiff.commands.prepare", "turn images into a training-ready dataset store"),
    "info": ("picodiff.commands.info", "print a dataset store's summary"),
    "train": ("picodiff.commands.train", "train a DDPM on a dataset store"),
    "serve": ("picodiff.commands.serve", "serve models over a REST API (and the web page)"),
    "sample": ("picodiff.commands.sample", "draw images from a checkpoint (PNGs, grid, animation)"),
    "fid": ("picodiff.commands.fid", "FID and KID of samples against a dataset store"),
    "report": ("picodiff.commands.report", "compare model versions side by side (HTML, markdown)"),
}


class HelpFormatter(argparse.RawDescriptionHelpFormatter, argparse.ArgumentDefaultsHelpFormatter):
    """Keeps the examples in a command's docstring as written and shows every default."""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="picodiff",
        description="Train, evaluate and serve denoising diffusion (DDPM) image generators.",
        epilog="Run 'picodiff COMMAND --help' for a command's options.",
    )
    parser.add_argument("--version", action="version", version=f"picodiff {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, (module_name, description) in COMMANDS.items():
        module = importlib.import_module(module_name)
        command = sub.add_parser(
            name,
            help=description,
            description=(module.__doc__ or description).strip(),
            formatter_class=HelpFormatter,
        )
        module.add_arguments(command)
        command.set_defaults(run=module.run)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 0
    try:
        return int(args.run(args) or 0)
    except UserError as err:
        print(f"picodiff {args.command}: error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"picodiff {args.command}: interrupted", file=sys.stderr)
        return 130
