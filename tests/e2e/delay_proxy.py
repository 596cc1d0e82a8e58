#!/usr/bin/python3
"""A reverse proxy for the end-to-end tests that holds back blob requests.

It listens on 127.0.0.1:PORT and forwards GET and HEAD requests, headers
included, to the registry at 127.0.0.1:UPSTREAM. The first request for each
blob waits DELAY_S seconds before it is forwarded, so a bearer token that
was valid when the client sent it has expired when the registry receives it.
Every forwarded request is logged on stdout with the registry's status.

Usage: delay_proxy.py PORT UPSTREAM DELAY_S
"""
import http.client
import http.server
import sys
import threading
import time

CHUNK_BYTES = 256 * 1024
# Hop-by-hop headers describe one connection and are not forwarded.
HOP_HEADERS = {"connection", "keep-alive", "transfer-encoding", "te",
               "trailer", "upgrade", "proxy-authorization",
               "proxy-authenticate"}


def make_handler(upstream_port, delay_s):
    delayed = set()
    lock = threading.Lock()

    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self):
            self.forward(send_body=True)

        def do_HEAD(self):
            self.forward(send_body=False)

        def forward(self, send_body):
            waited = 0
            if "/blobs/" in self.path:
                with lock:
                    first = self.path not in delayed
                    delayed.add(self.path)
                if first:
                    time.sleep(delay_s)
                    waited = delay_s

            headers = {name: value for name, value in self.headers.items()
                       if name.lower() not in HOP_HEADERS}
            headers["Host"] = "127.0.0.1:%d" % upstream_port
            upstream = http.client.HTTPConnection("127.0.0.1", upstream_port,
                                                  timeout=60)
            upstream.request(self.command, self.path, headers=headers)
            response = upstream.getresponse()
            print("%s %s %d delayed=%ds" % (self.command, self.path,
                                            response.status, waited),
                  flush=True)

            self.send_response(response.status)
            length = response.getheader("Content-Length")
            for name, value in response.getheaders():
                if name.lower() not in HOP_HEADERS:
                    self.send_header(name, value)
            if length is None:
                self.close_connection = True
            self.end_headers()
            while send_body:
                chunk = response.read(CHUNK_BYTES)
                if not chunk:
                    break
                self.wfile.write(chunk)
            upstream.close()

        def log_message(self, format, *args):
            pass

    return Handler


def main():
    if len(sys.argv) != 4:
        sys.exit(__doc__)
    port, upstream_port, delay_s = (int(value) for value in sys.argv[1:])
    server = http.server.ThreadingHTTPServer(
        ("127.0.0.1", port), make_handler(upstream_port, delay_s))
    server.serve_forever()


if __name__ == "__main__":
    main()
