"""correlate: one customer's report is evidence of a wider incident.

Contacts from every channel and partner are validated, stitched per customer, counted per cell of the
dimension lattice, tested against a seasonal baseline, attributed to the scope at fault, and turned into
incident events that name the vendors involved.
"""

from correlate.config import Config, Settings, load_config
from correlate.contracts import Contact, Rejection, validate
from correlate.detectors.base import Detector, Finding
from correlate.engine import Engine, Outcome
from correlate.scope import Scope
from correlate.vendors import VendorRegistry

__all__ = [
    "Config",
    "Contact",
    "Detector",
    "Engine",
    "Finding",
    "Outcome",
    "Rejection",
    "Scope",
    "Settings",
    "VendorRegistry",
    "load_config",
    "validate",
]
__version__ = "0.1.0"
