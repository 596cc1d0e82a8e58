#!/usr/bin/python3
"""A registry token service for the end-to-end tests, on 127.0.0.1.

It serves GET /token?service=S&scope=repository:NAME:ACTIONS as the
distribution token specification describes: the caller authenticates with
HTTP Basic, and gets a JWT signed with RS256 by the key whose certificate
the registry lists in its rootcertbundle. Wrong or missing credentials get
401. Each token lives --lifetime seconds, which the reply's expires_in
gives. Every issued token is logged on stdout, one line each, so a test can
count them.

Usage: token_issuer.py PORT KEY.pem CERT.pem ISSUER SERVICE USER:PASSWORD
       LIFETIME_S
"""
import base64
import hashlib
import http.server
import json
import sys
import threading
import time
import urllib.parse
import uuid

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding

# docker-registry (2.8.2, Debian 12) accepts a token until 60 s after its
# exp and from 60 s before its nbf, to allow for clock skew between it and
# the issuer; its log names exp + 60 s as the end of a token's use. exp is
# moved that much earlier so that the registry refuses the token when its
# lifetime is over, as a registry without that leeway would.
REGISTRY_LEEWAY_S = 60


def b64url(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def libtrust_key_id(certificate):
    """The key ID docker-registry gives each key of its rootcertbundle: the
    first 240 bits of the SHA-256 of the DER public key, in base32, as 12
    groups of 4 characters joined by colons."""
    der = certificate.public_key().public_bytes(
        serialization.Encoding.DER,
        serialization.PublicFormat.SubjectPublicKeyInfo)
    encoded = base64.b32encode(hashlib.sha256(der).digest()[:30])
    text = encoded.decode("ascii").rstrip("=")
    return ":".join(text[i:i + 4] for i in range(0, len(text), 4))


class Issuer:
    def __init__(self, key_path, cert_path, issuer, service, user, lifetime_s):
        with open(key_path, "rb") as key_file:
            self.key = serialization.load_pem_private_key(key_file.read(),
                                                          password=None)
        with open(cert_path, "rb") as cert_file:
            certificate = x509.load_pem_x509_certificate(cert_file.read())
        self.key_id = libtrust_key_id(certificate)
        self.issuer = issuer
        self.service = service
        self.user = user
        self.lifetime_s = lifetime_s
        self.lock = threading.Lock()
        self.issued = 0

    def authenticated(self, header):
        if not header or not header.startswith("Basic "):
            return False
        try:
            presented = base64.b64decode(header[6:], validate=True).decode()
        except ValueError:
            return False
        return presented == self.user

    def token(self, scope):
        # "repository:demo/debian:pull,push"; repository names contain no
        # colons, so the scope splits into exactly three parts.
        access = []
        parts = scope.split(":") if scope else []
        if len(parts) == 3 and parts[0] == "repository":
            access.append({"type": "repository", "name": parts[1],
                           "actions": parts[2].split(",")})

        now = int(time.time())
        claims = {
            "iss": self.issuer,
            "sub": self.user.split(":", 1)[0],
            "aud": self.service,
            "iat": now,
            "nbf": now - 1,
            "exp": now + self.lifetime_s - REGISTRY_LEEWAY_S,
            "jti": str(uuid.uuid4()),
            "access": access,
        }

        header = {"typ": "JWT", "alg": "RS256", "kid": self.key_id}
        signing_input = "%s.%s" % (
            b64url(json.dumps(header).encode()),
            b64url(json.dumps(claims).encode()))
        signature = self.key.sign(signing_input.encode(), padding.PKCS1v15(),
                                  hashes.SHA256())

        with self.lock:
            self.issued += 1
            number = self.issued
        print("issued token %d scope=%s exp=%d" % (number, scope,
                                                   claims["exp"]), flush=True)
        return "%s.%s" % (signing_input, b64url(signature))


def make_handler(issuer):
    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            url = urllib.parse.urlsplit(self.path)
            query = urllib.parse.parse_qs(url.query)
            if url.path != "/token":
                self.reply(404, {"errors": [{"code": "NOT_FOUND"}]})
                return
            if query.get("service", [""])[0] != issuer.service:
                self.reply(400, {"errors": [{"code": "UNSUPPORTED",
                                             "message": "unknown service"}]})
                return
            if not issuer.authenticated(self.headers.get("Authorization")):
                print("refused credentials", flush=True)
                self.reply(401, {"errors": [{"code": "UNAUTHORIZED",
                                             "message": "bad credentials"}]},
                           {"WWW-Authenticate": 'Basic realm="token"'})
                return
            scope = query.get("scope", [""])[0]
            self.reply(200, {"token": issuer.token(scope),
                             "expires_in": issuer.lifetime_s})

        def reply(self, status, body, headers=None):
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            for name, value in (headers or {}).items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, format, *args):
            pass

    return Handler


def main():
    if len(sys.argv) != 8:
        sys.exit(__doc__)
    port, key, cert, issuer_name, service, user, lifetime = sys.argv[1:]
    issuer = Issuer(key, cert, issuer_name, service, user, int(lifetime))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", int(port)),
                                             make_handler(issuer))
    server.serve_forever()


if __name__ == "__main__":
    main()
