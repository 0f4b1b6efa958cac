"""The data model: tier schemas, validation and the error tree."""

from . import schemas
from .errors import *  # noqa: F403
from .errors import __all__ as _errors_all
from .schemas import TIERS, validate

__all__ = ["TIERS", "schemas", "validate", *_errors_all]
