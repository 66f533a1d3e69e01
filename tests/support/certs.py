"""Certificates for TLS tests: the devstack's CA (`simmesh.devstack.certs`), under the name the tests import."""

from simmesh.devstack.certs import CertAuthority

__all__ = ["CertAuthority"]
