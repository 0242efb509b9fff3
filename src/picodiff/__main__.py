"""`python -m picodiff` (and `torchrun -m picodiff`) run the command line."""

from .cli import main

raise SystemExit(main())
