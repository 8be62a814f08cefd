"""Throwaway X.509 certificates made with the ``openssl`` command (P-256 keys, 2 days).

``make_ca(directory)`` writes ``ca.crt``/``ca.key``; ``issue(directory, name, cn, sans)``
writes ``NAME.crt``/``NAME.key``, a server certificate signed by that CA with the
subjectAltName entries ``sans`` (``"DNS:localhost"``, ``"IP:127.0.0.1"``; empty: no
subjectAltName extension at all, only the subject's CN).
"""

from __future__ import annotations

import subprocess
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

COMMAND_TIMEOUT = 60.0
_KEY = ("-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-noenc")


@dataclass(frozen=True)
class Certificate:
    """A server certificate and its private key (mode 0600)."""

    certificate: Path
    key: Path


def _openssl(directory: Path, *args: str) -> None:
    result = subprocess.run(
        ["openssl", *args], cwd=directory, capture_output=True, text=True, check=False,
        timeout=COMMAND_TIMEOUT,
    )  # fmt: skip
    if result.returncode != 0:
        raise RuntimeError(f"openssl {args[0]} failed: {result.stderr.strip()}")


def make_ca(directory: Path) -> Path:
    """A new CA in ``directory`` (made with mode 0700 if missing): its certificate's path."""
    directory.mkdir(mode=0o700, exist_ok=True)
    _openssl(
        directory, "req", "-x509", *_KEY, "-keyout", "ca.key", "-out", "ca.crt", "-days", "2",
        "-subj", "/CN=borghive test CA",
        "-addext", "basicConstraints=critical,CA:TRUE",
        "-addext", "keyUsage=critical,keyCertSign,cRLSign",
    )  # fmt: skip
    (directory / "ca.key").chmod(0o600)
    return directory / "ca.crt"


def issue(
    directory: Path, name: str, *, cn: str, sans: Sequence[str], key_ids: bool = True
) -> Certificate:
    """A server certificate ``NAME.crt`` for subject ``CN=cn`` and subjectAltName ``sans``
    (none: no such extension), signed by the CA :func:`make_ca` made in ``directory``;
    not ``key_ids``: without subject and authority key identifiers."""
    _openssl(
        directory, "req", *_KEY, "-keyout", f"{name}.key", "-out", f"{name}.csr",
        "-subj", f"/CN={cn}",
    )  # fmt: skip
    extensions = [
        "basicConstraints=CA:FALSE",
        "keyUsage=critical,digitalSignature,keyEncipherment",
        "extendedKeyUsage=serverAuth",
        # Python 3.13's default contexts (VERIFY_X509_STRICT) require both.
        *(
            ("subjectKeyIdentifier=hash", "authorityKeyIdentifier=keyid:always")
            if key_ids
            else ("subjectKeyIdentifier=none", "authorityKeyIdentifier=none")
        ),
    ]
    if sans:
        extensions.append(f"subjectAltName={','.join(sans)}")
    (directory / f"{name}.ext").write_text("\n".join(extensions) + "\n")
    _openssl(
        directory, "x509", "-req", "-in", f"{name}.csr", "-CA", "ca.crt", "-CAkey", "ca.key",
        "-CAcreateserial", "-days", "2", "-extfile", f"{name}.ext", "-out", f"{name}.crt",
    )  # fmt: skip
    (directory / f"{name}.key").chmod(0o600)
    return Certificate(directory / f"{name}.crt", directory / f"{name}.key")
