"""Deterministic embedding vectors for the fakes: the same text always gets the same vector.

A vector is a unit vector of float32 values (every one exactly representable as float32, so its
JSON floats and its base64 float32 bytes say the same thing) drawn from a generator seeded by the
text. Shorter vectors are the first values of the full one, renormalised, as OpenAI's and
Google's shortened embeddings are.
"""

from __future__ import annotations

import base64
import hashlib
import math
import random
import sys
from array import array

NATIVE_DIMENSIONS = {
    "text-embedding-3-small": 1536,
    "text-embedding-3-large": 3072,
    "text-embedding-ada-002": 1536,
    "gemini-embedding-001": 3072,
    "text-embedding-004": 768,
}
DEFAULT_DIMENSIONS = 1536


def native_dimensions(model: str) -> int:
    return NATIVE_DIMENSIONS.get(model.removeprefix("models/"), DEFAULT_DIMENSIONS)


def vector(text: str, dimensions: int) -> list[float]:
    seed = int.from_bytes(hashlib.blake2b(text.encode("utf-8", "surrogatepass"), digest_size=8).digest(), "big")
    rng = random.Random(seed)
    raw = [rng.gauss(0.0, 1.0) for _ in range(dimensions)]
    norm = math.sqrt(sum(v * v for v in raw)) or 1.0
    return array("f", [v / norm for v in raw]).tolist()


def float32_base64(values: list[float]) -> str:
    """OpenAI's ``encoding_format: base64``: the float32 values, little-endian, base64-encoded."""
    packed = array("f", values)
    if sys.byteorder == "big":
        packed.byteswap()
    return base64.b64encode(packed.tobytes()).decode("ascii")
