"""HTTP: the FastAPI application, its dependencies, auth, routers and schemas.

Calls ``server.services`` (and the context that wires them); never imports
``server.storage`` or ``server.cli``.
"""
