"""Fixtures of the unit tests: real keys of every supported kind, made once a session."""

from __future__ import annotations

import subprocess

import pytest

from tests.unit.sshkey_samples import KEY_SPECS, GeneratedKey, keygen_listing


@pytest.fixture(scope="session")
def keys(tmp_path_factory: pytest.TempPathFactory) -> dict[str, GeneratedKey]:
    """One key of every supported kind, generated once per session (in parallel)."""
    directory = tmp_path_factory.mktemp("sshkeys")
    processes = []
    for name, (kind, bits, _, _) in KEY_SPECS.items():
        command = ["ssh-keygen", "-q", "-t", kind, "-N", "", "-C", f"{name}@test"]
        if bits is not None:
            command += ["-b", str(bits)]
        command += ["-f", str(directory / name)]
        processes.append(subprocess.Popen(command, stdin=subprocess.DEVNULL))
    for process in processes:
        assert process.wait(timeout=120) == 0
    result = {}
    for name in KEY_SPECS:
        path = directory / f"{name}.pub"
        bits, printed = keygen_listing(path)
        result[name] = GeneratedKey(path, path.read_text(), bits, printed)
    return result


@pytest.fixture(scope="session")
def ed25519(keys: dict[str, GeneratedKey]) -> GeneratedKey:
    return keys["ed25519"]
