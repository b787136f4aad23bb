"""What the shop sells."""

import json


class Base:
    """Something that serialises itself."""

    def to_dict(self):
        return {}

    def to_json(self):
        return json.dumps(self.to_dict())


class Item(Base):
    """One thing for sale."""

    currency = "EUR"

    def __init__(self, name, price):
        self.name = name
        self.price = price

    def to_dict(self):
        return {"name": self.name, "price": self.price}


class Error(ValueError):
    """A shop error."""
