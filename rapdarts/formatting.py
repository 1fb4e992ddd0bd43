"""How numbers are shown to people: one formatter for logs, tables and reports."""

from __future__ import annotations


def format_number(value: float, digits: int = 6) -> str:
    """``1,368,190`` for whole numbers, else ``digits`` significant digits (``4.25``, ``1.5e-07``)."""
    if float(value).is_integer() and abs(value) < 1e15:
        return f"{value:,.0f}"
    return f"{value:.{digits}g}"


def text_table(header: list[str], rows: list[list[str]], right: set[int] | None = None) -> str:
    """Columns padded to their widest cell, a rule under the header; columns in ``right`` right-aligned (numbers)."""
    right = right or set()
    widths = [max(len(line[i]) for line in [header, *rows]) for i in range(len(header))]

    def line(cells: list[str]) -> str:
        padded = (c.rjust(w) if i in right else c.ljust(w) for i, (c, w) in enumerate(zip(cells, widths)))
        return "  ".join(padded).rstrip()

    return "\n".join([line(header), "  ".join("-" * w for w in widths), *map(line, rows)])
