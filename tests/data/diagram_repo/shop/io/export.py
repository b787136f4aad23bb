"""Export items as CSV rows."""

import json

import numpy as np

import shop.util
from shop.models import Error
from ..pricing import total


class CsvExporter:
    """Writes items to a CSV file."""

    def __init__(self, path):
        self.path = path

    def export(self, items):
        self._check(items)
        rows = [self.row(item) for item in items]
        return rows, shop.util.round_money(total(items))

    def row(self, item):
        return f"{item.name},{item.price}"

    def _check(self, items):
        if not items:
            raise Error("nothing to export")


class JsonExporter(CsvExporter, json.JSONEncoder):
    def row(self, item):
        return json.dumps(item.to_dict())


def main(items):
    exporter = CsvExporter("out.csv")
    np.asarray(exporter.export(items))
