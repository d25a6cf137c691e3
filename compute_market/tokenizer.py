"""The built-in byte-level tokenizer: a text's tokens are its UTF-8 bytes, so the vocabulary is 256 and
every text (any language, any bytes) has exactly one encoding, with no merges table to agree on.

Pure Python, no torch: `gradchain job init` and the demo turn a text file into a token-stream dataset
with it, and `gradchain job predict` turns a prompt into tokens and a generated continuation back into
text (bytes that do not form valid UTF-8 are shown as U+FFFD).
"""

from __future__ import annotations

VOCAB_SIZE = 256


def encode(text: str | bytes) -> bytes:
    """The tokens of `text`: its UTF-8 bytes (bytes are taken as they are), each a token in 0..255."""
    return text if isinstance(text, bytes) else text.encode("utf-8", "surrogatepass")


def decode(tokens: bytes | bytearray | list[int]) -> str:
    """The text of byte tokens; raises ValueError for a token outside 0..255."""
    return bytes(tokens).decode("utf-8", "replace")
