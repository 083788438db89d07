import pathlib

from primeflow_lib.datadict import render_data_dictionary
from primeflow_lib.schema import ALL_TABLES

ROOT = pathlib.Path(__file__).resolve().parents[1]


def test_data_dictionary_is_up_to_date():
    doc = (ROOT / "docs" / "data-dictionary.md").read_text()
    assert doc.strip() == render_data_dictionary().strip(), "run `make docs` to regenerate it"


def test_every_table_documents_every_column_and_partitions_on_a_date():
    for t in ALL_TABLES.values():
        assert t.doc, t.fqn
        assert all(c.doc for c in t.columns), t.fqn
        if t.partition_column:
            assert t.column(t.partition_column).type in ("DATE", "TIMESTAMP"), t.fqn
