"""What a secret looks like: one table of patterns, used by the audit log's redaction and by the
dataset cleaner's scanning (which adds a high-entropy check that would be too eager for logs)."""

from __future__ import annotations

import math
import re
from collections import Counter

PATTERNS: dict[str, str] = {
    "private_key": r"-----BEGIN [A-Z ]*PRIVATE KEY-----[\s\S]*?(?:-----END [A-Z ]*PRIVATE KEY-----|$)",
    "bearer_token": r"\bBearer\s+[A-Za-z0-9._~+/=-]{8,}",
    "api_key": r"\b(?:sk|pk|rk)-[A-Za-z0-9_-]{16,}",
    "github_token": r"\bgh[pousr]_[A-Za-z0-9]{20,}",
    "slack_token": r"\bxox[abprs]-[A-Za-z0-9-]{10,}",
    "aws_access_key": r"\bAKIA[0-9A-Z]{16}\b",
    "google_api_key": r"\bAIza[0-9A-Za-z_-]{35}\b",
    "jwt": r"\beyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}",
    "connection_string": r"\b[a-z][a-z0-9+.-]*://[^\s:/@]+:[^\s@/]+@\S+",
    "password": r"\b(?i:password|passwd|pwd|passphrase)\s*[:=]\s*\S+",
}
SECRET = re.compile("|".join(f"(?P<{kind}>{pattern})" for kind, pattern in PATTERNS.items()))
CANDIDATE = re.compile(r"[A-Za-z0-9+/=_-]{24,}")
MIN_ENTROPY = 3.5  # bits per character; English words stay well under, random keys well over


def entropy(text: str) -> float:
    counts = Counter(text)
    return -sum(n / len(text) * math.log2(n / len(text)) for n in counts.values())


def looks_random(token: str) -> bool:
    return any(c.isdigit() for c in token) and any(c.isalpha() for c in token) and entropy(token) >= MIN_ENTROPY


def redact_secrets(text: str, *, high_entropy: bool, label=lambda kind: f"[REDACTED:{kind}]") -> tuple[str, Counter]:
    """The text with every secret replaced by `label(kind)`, and how many of each kind were found."""
    found: Counter = Counter()

    def swap(match: re.Match) -> str:
        found[match.lastgroup] += 1
        return label(match.lastgroup)

    text = SECRET.sub(swap, text)
    if high_entropy:
        def swap_random(match: re.Match) -> str:
            if "[REDACTED" in match.group(0) or not looks_random(match.group(0)):
                return match.group(0)
            found["high_entropy"] += 1
            return label("high_entropy")

        text = CANDIDATE.sub(swap_random, text)
    return text, found
