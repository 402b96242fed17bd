"""The composition root: settings, SQL storage and migrations, the ``agri`` CLI.

``server`` builds the adapters from :class:`server.config.Settings` and wires the
domain packages together. Nothing imports ``server``.
"""

__all__: list[str] = []
