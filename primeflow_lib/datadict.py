"""Generate ``docs/data-dictionary.md`` from the table declarations (one source of truth)."""

from __future__ import annotations

from primeflow_lib.schema import ALL_TABLES, SCHEMAS


def render_data_dictionary() -> str:
    """Markdown for every declared table: purpose, key, partition column, columns with types,
    nullability and meaning."""
    lines = [
        "# PrimeFlow data dictionary",
        "",
        "Generated from `primeflow_lib/schema/` by `primeflow docs` (do not edit by hand; "
        "`tests/test_schema.py` fails when this file is out of date).",
        "",
        "Timestamps are naive America/New_York wall time unless a column says otherwise; dates are "
        "NYSE sessions. Every row that came from a vendor carries `vendor`.",
        "",
    ]
    for schema in SCHEMAS:
        tables = [t for t in ALL_TABLES.values() if t.schema == schema]
        if not tables:
            continue
        lines += [f"## `{schema}`", ""]
        for t in tables:
            lines += [f"### `{t.fqn}`", "", t.doc, ""]
            lines.append(f"- key: `({', '.join(t.key)})`" + (" (enforced)" if t.enforce_key else ""))
            lines.append(
                f"- partition column: `{t.partition_column}`" if t.partition_column else "- not partitioned"
            )
            lines += ["", "| column | type | null | meaning |", "| --- | --- | --- | --- |"]
            for c in t.columns:
                doc = c.doc.replace("|", "\\|")
                lines.append(f"| `{c.name}` | {c.type} | {'yes' if c.nullable else 'no'} | {doc} |")
            lines.append("")
    return "\n".join(lines)
