"""Fittingroom: virtual try-on for online shops.

The namespace is assembled from the shared library (``shared/fittingroom``) and one
folder per service (``services/<name>`` is ``fittingroom.<name>``).
"""

__version__ = "0.1.0"
