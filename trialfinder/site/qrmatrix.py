"""QR code module matrices from segno, for thousands of codes that differ in a few characters (the handouts' links
to the official records: the same address but for the NCT id).

A QR code of a fixed version, error level and mask is an affine function of its data bits over GF(2): the data
codewords are placed as they are, the Reed-Solomon error correction is linear, interleaving and placement only move
bits, and the mask and the format and version information are constants. Two texts of the same length in byte mode
have the same version, error level (segno's boost depends on the length only), padding and terminator, so
`matrix(text) = matrix(base) XOR sum of delta(i, text[i])` over the positions where `text` differs from a base text
of that length, where `delta(i, c)` is `matrix(base with c at i) XOR matrix(base)`, each made once by segno. A code
then costs a few integer XORs instead of segno's 0.7 ms. Every matrix is segno's own (tests/site/test_qrmatrix.py
compares thousands); the first code made from deltas for each length is checked against segno at run time too,
and a length that fails the check (or any text that is not plainly byte mode) is made by segno directly.
"""

from __future__ import annotations

import functools

import segno

ERROR, MASK = "m", 0  # error correction level M (segno raises it when the data leaves room), mask pattern 0


def qr_matrix(text: str) -> tuple[int, bytes]:
    """`(side, modules)` of `segno.make(text, error="m", mask=0)`: `modules` is side * side bytes, row by row, 1 for a
    dark module and 0 for a light one (no quiet zone)."""
    if not _plainly_bytes(text):
        return _segno(text, None)
    return _family(len(text)).matrix(text)


def _plainly_bytes(text: str) -> bool:
    """ASCII with a lower-case letter: segno encodes it in byte mode as its ASCII bytes (numeric and alphanumeric
    modes have no lower-case letters), so one character stands for one byte of data."""
    return text.isascii() and any("a" <= char <= "z" for char in text)


def _segno(text: str, mode: str | None) -> tuple[int, bytes]:
    code = segno.make(text, error=ERROR, mask=MASK, mode=mode)
    return len(code.matrix), b"".join(code.matrix)


class _Family:
    """The codes of one text length: a base (the first text asked for), and the deltas made so far."""

    def __init__(self) -> None:
        self.base = ""
        self.side = 0
        self.modules = 0
        self.deltas: dict[tuple[int, str], int] = {}
        self.checked: bool | None = None  # None: no code made from deltas yet; then whether it matched segno

    def matrix(self, text: str) -> tuple[int, bytes]:
        if self.checked is False:
            return _segno(text, "byte")
        if not self.base:
            self.side, modules = _segno(text, "byte")
            self.base, self.modules = text, int.from_bytes(modules, "big")
            return self.side, modules
        value = self.modules
        for at, (was, char) in enumerate(zip(self.base, text, strict=True)):
            if was != char:
                value ^= self._delta(at, char)
        made = value.to_bytes(self.side * self.side, "big")
        if self.checked is None:
            self.checked = (self.side, made) == _segno(text, "byte")
        return (self.side, made) if self.checked else _segno(text, "byte")

    def _delta(self, at: int, char: str) -> int:
        delta = self.deltas.get((at, char))
        if delta is None:
            side, modules = _segno(self.base[:at] + char + self.base[at + 1 :], "byte")
            if side != self.side:  # cannot happen for one length in byte mode; if it did, the check above fails
                self.checked = False
            delta = self.deltas[(at, char)] = int.from_bytes(modules, "big") ^ self.modules
        return delta


@functools.cache
def _family(length: int) -> _Family:
    return _Family()
