"""Money helpers."""

import math


def round_money(amount):
    """Round down to the cent."""
    return math.floor(amount * 100) / 100


def apply_rate(price, rate):
    return round_money(price * (1 - rate))
