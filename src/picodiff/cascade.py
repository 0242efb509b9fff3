"""Deprecated: cascades live in `picodiff.sampling` (`from picodiff.sampling import Cascade`)."""

from .deprecation import warn_renamed
from .sampling.cascade import Cascade, Stage, check_chain, stage_seed

warn_renamed("module", "picodiff.cascade", "picodiff.sampling", stacklevel=2)

__all__ = ["Cascade", "Stage", "check_chain", "stage_seed"]
