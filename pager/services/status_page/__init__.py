"""The public status page (docs/status-page.md): loading what may be shown in one short read
(`loading.py`), its three renderings (`rendering.py`: HTML, the JSON document, the Atom feed) and
the in-process cache every request is answered from (`publishing.py`)."""
