"""Every table and figure of the paper the report rebuilds, and the function that builds each from the results."""
from __future__ import annotations

from replication.report import figures, tables_proxy, tables_speed, tables_static
from replication.report.collect import Results
from replication.report.items import Item

TABLES = ("T1", "T2", "T3", "T4", "T5", "T6", "T7", "T8", "T9", "T10", "T11", "T12", "T13")
FIGURES = ("F1", "F3", "F5", "F6")
BUILDERS = {
    "T1": tables_static.table01, "T2": tables_speed.table02, "T3": tables_static.table03,
    "T4": tables_static.table04, "T5": tables_proxy.table05, "T6": tables_static.table06,
    "T7": tables_speed.table07, "T8": tables_proxy.table08, "T9": tables_static.table09,
    "T10": tables_speed.table10, "T11": tables_speed.table11, "T12": tables_proxy.table12,
    "T13": tables_proxy.table13, "F1": figures.figure01, "F3": figures.figure03,
    "F5": figures.figure05, "F6": figures.figure06,
}


def build_item(key: str, res: Results) -> Item:
    """The frame of one table or figure (nothing written)."""
    return BUILDERS[key](res)


def build_items(res: Results) -> dict[str, Item]:
    return {key: build_item(key, res) for key in (*TABLES, *FIGURES)}
