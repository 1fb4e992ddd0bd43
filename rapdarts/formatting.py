"""How numbers are shown to people: one formatter for logs, tables and reports."""

from __future__ import annotations


def format_number(value: float, digits: int = 6) -> str:
    """``1,368,190`` for whole numbers, else ``digits`` significant digits (``4.25``, ``1.5e-07``)."""
    if float(value).is_integer() and abs(value) < 1e15:
        return f"{value:,.0f}"
    return f"{value:.{digits}g}"
