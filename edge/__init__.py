"""Edge: the field agent's phone app, a Progressive Web App served at ``/agent/``.

No Python runs here. ``index.html``, ``sw.js`` (the service worker),
``manifest.webmanifest`` and ``src/`` (plain ES modules and the style sheet, no
build step) are the app; ``model/`` holds the on-device face-ID model written by
``agri edge export`` (``make edge-model``); ``package.json`` pins the one npm
package the app loads, onnxruntime-web (``npm ci --prefix edge`` in ``make
setup``). :mod:`server.http.agent` serves it.
"""

__all__: list[str] = []
