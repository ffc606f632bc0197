"""CTRs.csv / CPARs.csv: values, failure codes 2/3/4, ratios >= 2, frontal only, extra index column."""

from __future__ import annotations

from ._util import A, E, quarantine_of, rows_of


def test_values(mini_tables) -> None:  # type: ignore[no-untyped-def]
    got = sorted(
        (r["dicom_id"], r["query"]["measure"], r["answer"]["value"])
        for r in rows_of(mini_tables, "cardiomegaly")
    )
    assert got == sorted([(A, "ctr", 0.45), (E, "ctr", 0.52), (A, "cpar", 0.31)])
    r = rows_of(mini_tables, "cardiomegaly")[0]
    assert r["task"] == "calculation" and set(r["meta"]) == {"file", "line"}


def test_failure_codes(mini_tables) -> None:  # type: ignore[no-untyped-def]
    q = quarantine_of(mini_tables, "CTRs.csv")
    assert q[4] == ("CTR", "failure code 2: heart not detected")
    assert q[5] == ("CTR", "CTR is not a number")
    assert q[6] == ("dicom_file", "non-frontal view (source is frontal-only)")
    assert q[7] == ("CTR", "failure code 3: lungs not detected")
    assert q[8] == ("CTR", "CTR >= 2 is not a valid ratio (failure code or outlier)")
    assert quarantine_of(mini_tables, "CPARs.csv") == {
        3: ("CPAR", "failure code 4: neither heart nor lungs detected")
    }
