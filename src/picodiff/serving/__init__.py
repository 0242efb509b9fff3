"""Serving: a REST backend (Flask app factory, model manager, generation queue, rollouts)."""

from .app import create_app
from .config import ServeConfig

__all__ = ["ServeConfig", "create_app"]
