#!/bin/sh
# Prints a TCP port on 127.0.0.1 that was free a moment ago: the kernel
# picks it when a socket binds port 0. Another process may take the port
# before the caller binds it, so callers retry with a new port when their
# server reports the address in use.
set -eu

exec /usr/bin/python3 -c '
import socket
with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
    probe.bind(("127.0.0.1", 0))
    print(probe.getsockname()[1])
'
