"""The ``agri`` command: its groups and the demo.

Calls ``server.services`` through the application context. Importing this package
loads no heavy library (torch, web3, rasterio, GDAL): each command imports what it uses.
"""

from server.cli.main import cli, main

__all__ = ["cli", "main"]
