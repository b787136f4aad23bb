"""The command line entry point."""

from shop import Item
from shop.io.export import main


class SpecialItem(Item):
    pass


def run():
    main([SpecialItem("tea", 3.5)])
