"""Splitting an amount over lines to the fen, so that the shares always sum to the amount exactly.

Largest remainder: each line gets the whole fen of its exact share, the fen left over go to the
lines with the largest fractions (the earlier line first on a tie). Pure and deterministic.
"""

from decimal import Decimal

FEN = Decimal("0.01")


def allocate(total: Decimal, weights: list[Decimal]) -> list[Decimal]:
    """``total`` (to the fen, not negative) split in proportion to ``weights`` (negative ones count as 0).

    With no positive weight the total is split evenly. An empty list of weights gets an empty list.
    """
    count = len(weights)
    if not count:
        return []
    fen = int((total.quantize(FEN) * 100).to_integral_value())
    if fen < 0:
        raise ValueError("allocate() takes an amount of at least 0")
    positive = [max(w, Decimal(0)) for w in weights]
    base = sum(positive, Decimal(0))
    if base == 0:
        positive = [Decimal(1)] * count
        base = Decimal(count)
    exact = [Decimal(fen) * w / base for w in positive]
    whole = [int(e) for e in exact]  # e >= 0: int() is the floor
    left = fen - sum(whole)
    order = sorted(range(count), key=lambda i: (-(exact[i] - whole[i]), i))
    for i in order[:left]:
        whole[i] += 1
    return [(Decimal(w) / 100).quantize(FEN) for w in whole]
