"""Text hashes for finding one lead id in two partitions: equal texts, equal hashes; and no two
of a million realistic ids share one."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from leadml.columns import text_hashes


def test_equal_texts_hash_equal_whatever_their_storage():
    values = ["L000001", "", "crm-42", "Zoë", "L000001", "a", "aa", "a\x00"]
    as_str = text_hashes(pd.Series(values, dtype="str"))
    assert np.array_equal(as_str, text_hashes(pd.Series(values, dtype=object)))
    chunked = pd.Series(
        pd.arrays.ArrowExtensionArray(pa.chunked_array([values[:3], values[3:]])), dtype="str"
    )
    assert np.array_equal(as_str, text_hashes(chunked))
    assert np.array_equal(as_str[2:6], text_hashes(pd.Series(values, dtype="str").iloc[2:6]))
    assert as_str[0] == as_str[4]
    assert len(set(as_str.tolist())) == len(set(values))  # prefixes and NULs differ too


@pytest.mark.parametrize(
    "make",
    [
        lambda i: f"L{i:09d}",  # sequential ids: differ in one or two characters
        lambda i: f"{i:x}",  # short, varying length
        lambda i: f"lead-{(i * 2654435761) % 2**32:010d}@crm.example",
    ],
)
def test_a_million_distinct_ids_get_distinct_hashes(make):
    ids = pd.Series([make(i) for i in range(1_000_000)], dtype="str")
    assert len(np.unique(text_hashes(ids))) == len(ids)


def test_missing_values_are_refused():
    with pytest.raises(ValueError, match="without missing"):
        text_hashes(pd.Series(["a", None], dtype="str"))


def test_no_values():
    assert text_hashes(pd.Series([], dtype="str")).shape == (0,)
