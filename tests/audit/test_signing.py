"""The checkpoint signing key: generated owner-only into the data dir once (processes starting together agree on
one), or given as a secret (PEM or hex) that every replica shares; trusted public keys given as hex or PEM."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from pydantic import SecretStr

from parley.audit.settings import AuditSettings
from parley.audit.signing import (
    SigningKeyError,
    configured_signer,
    existing_signer,
    load_or_create_signer,
    read_public_key,
    signature_is_valid,
    signer_from_text,
)


def test_the_key_file_is_created_owner_only_once(tmp_path: Path) -> None:
    path = tmp_path / "data" / "audit-signing-key.pem"
    with ThreadPoolExecutor(8) as pool:
        signers = list(pool.map(lambda _: load_or_create_signer(path), range(8)))
    assert len({s.public_key for s in signers}) == 1
    assert path.stat().st_mode & 0o777 == 0o600
    assert [p.name for p in path.parent.iterdir()] == ["audit-signing-key.pem"]
    assert load_or_create_signer(path).public_key == signers[0].public_key
    signature = signers[0].sign(b"checkpoint")
    assert signature_is_valid(signers[0].public_key, b"checkpoint", signature)
    assert not signature_is_valid(signers[0].public_key, b"checkpoint!", signature)


def test_creating_the_key_leaves_the_data_dir_passable_for_the_embedded_database(tmp_path: Path) -> None:
    # Run as root, the data dir is 0711 so that the embedded PostgreSQL's own account reaches its files; a key
    # file written beside them must not close it (the server then PANICs when it stops).
    data_dir = tmp_path / "data"
    data_dir.mkdir(mode=0o711)
    data_dir.chmod(0o711)
    load_or_create_signer(data_dir / "audit-signing-key.pem")
    assert data_dir.stat().st_mode & 0o777 == 0o711
    assert (data_dir / "audit-signing-key.pem").stat().st_mode & 0o777 == 0o600


def test_a_key_given_as_a_secret_wins_over_the_file(tmp_path: Path) -> None:
    key = Ed25519PrivateKey.generate()
    raw = key.private_bytes(serialization.Encoding.Raw, serialization.PrivateFormat.Raw, serialization.NoEncryption())
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    assert signer_from_text(raw.hex()).public_key == signer_from_text(pem).public_key
    settings = AuditSettings(signing_key=SecretStr(pem))
    assert configured_signer(settings, tmp_path).public_key == signer_from_text(pem).public_key
    assert not (tmp_path / "audit-signing-key.pem").exists()
    assert existing_signer(AuditSettings(), tmp_path) is None
    for bad in ("not a key", "zz" * 32):
        with pytest.raises(SigningKeyError):
            signer_from_text(bad)


def test_trusted_keys_as_hex_or_pem_files(tmp_path: Path) -> None:
    signer = load_or_create_signer(tmp_path / "private.pem")
    public_pem = tmp_path / "public.pem"
    public_pem.write_bytes(
        signer.private_key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )
    assert read_public_key(signer.public_key.upper()) == signer.public_key
    assert read_public_key(str(public_pem)) == signer.public_key
    assert read_public_key(str(tmp_path / "private.pem")) == signer.public_key
    with pytest.raises(SigningKeyError):
        read_public_key(str(tmp_path / "missing.pem"))
