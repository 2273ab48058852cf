"""Test certificates, made at test time with the ``openssl`` command (no
private key is ever committed): an ECDSA P-256 CA, server certificates for
127.0.0.1 and localhost (each with its own serial, to tell which one a
server serves), a client certificate and an encrypted key.

``Certs(directory)`` makes them once; ``client_context()`` is what a
client trusting the test CA uses.
"""
import os
import socket
import ssl
import subprocess

P256 = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256"]
SERVER_EXT = ("basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\n"
              "extendedKeyUsage=serverAuth\nsubjectAltName=DNS:localhost,IP:127.0.0.1\n"
              "subjectKeyIdentifier=hash\nauthorityKeyIdentifier=keyid\n")
CLIENT_EXT = ("basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\n"
              "extendedKeyUsage=clientAuth\n"
              "subjectKeyIdentifier=hash\nauthorityKeyIdentifier=keyid\n")
PASSWORD = "correct horse"

# Serials of the server certificates, as the server presents them.
SERIAL_FIRST = 0x1001
SERIAL_SECOND = 0x2002


def openssl(*args, cwd):
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True)


class Certs:
    """Paths of the test certificates and keys in ``directory``."""

    def __init__(self, directory):
        self.dir = str(directory)
        self.path = lambda name: os.path.join(self.dir, name)
        self.ca, self.ca_key = self.path("ca.pem"), self.path("ca.key")
        openssl("req", "-x509", *P256, "-nodes", "-keyout", "ca.key", "-out", "ca.pem",
                "-days", "30", "-subj", "/O=prefork tests/CN=Test CA",
                "-addext", "basicConstraints=critical,CA:TRUE",
                "-addext", "keyUsage=critical,keyCertSign,cRLSign", cwd=self.dir)
        self.cert, self.key = self.issue("server", "/CN=localhost", SERVER_EXT, SERIAL_FIRST)
        self.cert2, self.key2 = self.issue("server2", "/CN=localhost", SERVER_EXT, SERIAL_SECOND)
        self.client_cert, self.client_key = self.issue(
            "client", "/O=Example, Inc./CN=alice", CLIENT_EXT, 0x3003)
        # A client certificate from a CA the server does not trust.
        openssl("req", "-x509", *P256, "-nodes", "-keyout", "rogue.key", "-out", "rogue.pem",
                "-days", "30", "-subj", "/CN=mallory", cwd=self.dir)
        self.rogue_cert, self.rogue_key = self.path("rogue.pem"), self.path("rogue.key")
        # The server key, encrypted, and its password in a file.
        openssl("pkey", "-in", "server.key", "-aes256", "-passout", f"pass:{PASSWORD}",
                "-out", "server.enc.key", cwd=self.dir)
        self.encrypted_key = self.path("server.enc.key")
        self.password_file = self.path("password.txt")
        with open(self.password_file, "w") as f:
            f.write(PASSWORD + "\n")
        self.wrong_password_file = self.path("wrong-password.txt")
        with open(self.wrong_password_file, "w") as f:
            f.write("battery staple\n")
        self.broken = self.path("broken.pem")
        with open(self.broken, "w") as f:
            f.write("-----BEGIN CERTIFICATE-----\nnot a certificate\n-----END CERTIFICATE-----\n")

    def issue(self, name, subject, extensions, serial):
        with open(self.path(f"{name}.ext"), "w") as f:
            f.write(extensions)
        openssl("req", "-new", *P256, "-nodes", "-keyout", f"{name}.key", "-out", f"{name}.csr",
                "-subj", subject, cwd=self.dir)
        openssl("x509", "-req", "-in", f"{name}.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
                "-set_serial", str(serial), "-days", "30", "-extfile", f"{name}.ext",
                "-out", f"{name}.pem", cwd=self.dir)
        return self.path(f"{name}.pem"), self.path(f"{name}.key")

    def flags(self, *extra):
        """The server flags for a TLS server with the first certificate."""
        return ["--certfile", self.cert, "--keyfile", self.key, *extra]

    def client_context(self, cert=None, key=None):
        """A client that trusts the test CA (and presents ``cert``, if given)."""
        context = ssl.create_default_context(cafile=self.ca)
        if cert is not None:
            context.load_cert_chain(cert, key)
        return context


def tls_connect(port, context, host="127.0.0.1", timeout=5.0, server_hostname="localhost"):
    """A TLS socket to the server, handshake done."""
    sock = socket.create_connection((host, port), timeout=timeout)
    try:
        return context.wrap_socket(sock, server_hostname=server_hostname)
    except BaseException:
        sock.close()
        raise


def served_serial(port, context, host="127.0.0.1"):
    """The serial number of the certificate the server presents now."""
    with tls_connect(port, context, host) as sock:
        return int(sock.getpeercert()["serialNumber"], 16)
