"""API keys (``Authorization: Bearer KEY``): off unless keys are configured
(the embedded default), on in the chart.

A key is configured by the SHA-256 of its value (the plaintext is never
stored), a scope (``read``: extract and look; ``write``: also fine-tune and
delete) and an optional namespace: such a key sees, uses and creates only
taggers named ``NAMESPACE.*``; anything else looks like it does not exist.
Every configured digest is compared in constant time, and keys are never
logged (the access log records method, path and status only).
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass
from typing import Literal

from pydantic import BaseModel, Field

Scope = Literal["read", "write"]


class ApiKeyConfig(BaseModel):
    name: str = Field(description="Who holds the key (shown in logs instead of the key).")
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$", description="sha256 hex of the key.")
    scope: Scope = "read"
    namespace: str | None = Field(
        default=None, pattern=r"^[A-Za-z0-9][A-Za-z0-9_-]{0,40}$", description="Tagger prefix."
    )


@dataclass(frozen=True)
class Principal:
    name: str
    scope: Scope
    namespace: str | None = None

    @property
    def can_write(self) -> bool:
        return self.scope == "write"

    def owns(self, tagger: str) -> bool:
        return self.namespace is None or tagger.startswith(f"{self.namespace}.")


ANONYMOUS = Principal("anonymous", "write")  # when no keys are configured


def digest(key: str) -> bytes:
    return hashlib.sha256(key.encode("utf-8")).digest()


class KeyRing:
    def __init__(self, keys: list[ApiKeyConfig]) -> None:
        self.keys = [
            (bytes.fromhex(k.sha256), Principal(k.name, k.scope, k.namespace)) for k in keys
        ]

    @property
    def enabled(self) -> bool:
        return bool(self.keys)

    def authenticate(self, key: str) -> Principal | None:
        """Compare against every digest, without stopping at a match."""
        presented = digest(key)
        found = None
        for stored, principal in self.keys:
            if hmac.compare_digest(presented, stored):
                found = principal
        return found
