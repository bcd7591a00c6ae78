"""Serves this folder with the headers that let the page use several CPU threads.

  python serve.py [PORT]      then open http://localhost:PORT/ (default 8000)

`python -m http.server` serves the page too, but then the browser gives WebAssembly one
thread: threads need SharedArrayBuffer, which needs a cross-origin isolated page
(Cross-Origin-Opener-Policy: same-origin, Cross-Origin-Embedder-Policy: require-corp).
Standard library only: it runs wherever the folder is copied.
"""

import functools
import http.server
import os
import sys


class IsolatedHandler(http.server.SimpleHTTPRequestHandler):
    def end_headers(self):
        self.send_header("Cross-Origin-Opener-Policy", "same-origin")
        self.send_header("Cross-Origin-Embedder-Policy", "require-corp")
        super().end_headers()


def main(argv):
    port = int(argv[0]) if argv else 8000
    folder = os.path.dirname(os.path.abspath(__file__))
    handler = functools.partial(IsolatedHandler, directory=folder)
    with http.server.ThreadingHTTPServer(("127.0.0.1", port), handler) as server:
        print(f"serving {folder} at http://localhost:{server.server_address[1]}/", flush=True)
        server.serve_forever()


if __name__ == "__main__":
    main(sys.argv[1:])
