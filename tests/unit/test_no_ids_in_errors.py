"""Error messages name table, column, rule and row count, never the values of keys or dates, which
identify patients (house rule: no patient identifiers in error messages)."""
from __future__ import annotations

import pandas as pd
import pytest

from mtl_core.errors import DataError
from mtl_core.sources import files


@pytest.mark.parametrize("convert, values, rule", [
    (files.as_int, ["MRN0042", "17", "MRN0043"], "integer"),
    (files.as_time, ["2024-01-01", "not-a-date-XY77", "2024-02-30"], "ISO 8601"),
])
def test_key_and_time_errors_quote_no_values(convert, values, rule):
    with pytest.raises(DataError) as err:
        convert(pd.Series(values), "table 't'", "col")
    msg = str(err.value)
    assert rule in msg and "2 rows" in msg
    assert not any(v in msg for v in values)
    assert "shapes e.g." in msg  # the format of the bad values, which helps fix them


def test_float_errors_still_show_the_bad_text():
    with pytest.raises(DataError, match="'<5'"):  # lab text such as '<5' helps and identifies no one
        files.as_float(pd.Series(["1.2", "<5"]), "table 't'", "creatinine")
