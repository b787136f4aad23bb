"""Totals and discounts."""

from . import util
from .models import Item


def price_of(item):
    return item.price


def total(items):
    """The sum of the items' prices."""
    return util.round_money(sum(price_of(item) for item in items))


class DiscountedItem(Item):
    def __init__(self, name, price, rate=0.1):
        super().__init__(name, price)
        self.rate = rate

    def to_dict(self):
        data = super().to_dict()
        data["rate"] = self.rate
        return data

    def discounted(self):
        return util.apply_rate(self.price, self.rate)

    def describe(self):
        return self.to_json()
