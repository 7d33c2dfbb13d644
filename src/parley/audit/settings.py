"""Settings of the audit trail (`PARLEY_AUDIT__…`; README, "Audit trail")."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, Field, SecretStr


class AuditSettings(BaseModel):
    """The checkpoint signing key and schedule of the tamper-evident audit chain."""

    # The Ed25519 key (PEM, PKCS#8) that signs checkpoints; unset: `audit-signing-key.pem` in the data dir,
    # created (0600) on first start. Replicas with data dirs of their own should all be given the same key.
    signing_key_file: Path | None = None
    # The key itself, instead of a file (wins over `signing_key_file`): a PEM private key, or the 32-byte private
    # key as 64 hex digits. For replicas that share no data dir: give every one the same secret.
    signing_key: SecretStr | None = None
    # How often the chain's head is signed (a checkpoint is only written when the chain grew).
    checkpoint_interval_seconds: float = Field(default=300.0, ge=1, le=86_400)
    # Further public keys (hex, raw Ed25519) whose checkpoints verification accepts: a previous signing key,
    # or other replicas' keys.
    trusted_public_keys: list[str] = Field(default_factory=list)

    def key_file(self, data_dir: Path) -> Path:
        return self.signing_key_file.expanduser() if self.signing_key_file else data_dir / "audit-signing-key.pem"
