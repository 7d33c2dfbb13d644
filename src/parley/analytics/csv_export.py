"""The analytics series as CSV for chargeback, safe to open in a spreadsheet."""

from __future__ import annotations

import csv
import io

from parley.analytics.schemas import AnalyticsPoint, AnalyticsReport

# OWASP CSV injection: a cell a spreadsheet would read as a formula (or a control character that starts one) is
# prefixed with a quote so it is shown as text. Keys are free text (cost centres, group names, emails).
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def neutralise(cell: str) -> str:
    return "'" + cell if cell.startswith(_FORMULA_STARTS) else cell


def _cell(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return neutralise(value)
    return str(value)


# Figures that are a mapping (per limit name) become one column per name, after the scalar figures.
_PER_LIMIT = "refused_by_limit"


def render(report: AnalyticsReport) -> str:
    """One header row (the grouping's name, then every figure) and one row per key, in the report's order.

    Refusals per limit get a column `refused:<limit>` for each limit that refused something in the range (0 in
    the rows of keys it never refused, empty where refusals do not apply).
    """
    fields = [name for name in AnalyticsPoint.model_fields if name not in ("key", _PER_LIMIT)]
    limits = sorted({name for point in report.series for name in point.refused_by_limit})
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow([report.group_by, "from", "to", *fields, *(neutralise(f"refused:{name}") for name in limits)])
    for point in report.series:
        writer.writerow(
            [
                _cell(point.key),
                report.since.isoformat(),
                report.until.isoformat(),
                *(_cell(getattr(point, name)) for name in fields),
                *("" if point.refused is None else str(point.refused_by_limit.get(name, 0)) for name in limits),
            ]
        )
    return out.getvalue()
