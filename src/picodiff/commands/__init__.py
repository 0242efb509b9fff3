"""Command-line sub-commands, one module each (see picodiff.cli.COMMANDS)."""
