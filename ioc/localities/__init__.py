"""Vietnamese localities after the 1 July 2025 reform: 34 provinces, 3,321 communes.

`catalogue` holds the current units, `legacy` the 63-province units and how they map onto the
current ones, `resolve` turns the locality fields of an incoming event into current codes.
"""

from ioc.localities.catalogue import Locality, LocalityCatalogue, load_catalogue
from ioc.localities.resolve import LocalityError, LocalityRef, Resolved, resolve

__all__ = [
    "Locality",
    "LocalityCatalogue",
    "LocalityError",
    "LocalityRef",
    "Resolved",
    "load_catalogue",
    "resolve",
]
