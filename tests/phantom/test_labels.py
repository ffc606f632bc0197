import math

import numpy as np

from imax.phantom.labels import chexpert_row, cxrlt_row, regex_edema_grade
from imax.phantom.reports import Report
from imax.schema.records import CHEXPERT14, CXRLT26


def test_regex_edema_most_severe_keyword_wins():
    assert regex_edema_grade(" There is no evidence of pulmonary edema.") == 0
    assert regex_edema_grade(" Mild pulmonary vascular congestion.") == 1
    assert regex_edema_grade(" Mild interstitial pulmonary\n edema.  No pneumothorax.") == 2
    assert regex_edema_grade(" Vascular congestion and alveolar pulmonary edema.") == 3
    assert regex_edema_grade(" The lungs are clear.") is None


def test_labels_follow_mentions_without_noise():
    rep = Report(text="", findings=[("Pleural Effusion", 0.0), ("Emphysema", 1.0)],
                 impression=[("Cardiomegaly", 1.0), ("Pneumonia", -1.0), ("Consolidation", 1.0)])
    r = np.random.default_rng(0)
    row = dict(zip(CHEXPERT14, chexpert_row(rep, r, 0.0), strict=True))
    assert row["Cardiomegaly"] == 1.0 and row["Pneumonia"] == -1.0 and math.isnan(row["Pleural Effusion"])
    assert math.isnan(row["No Finding"])
    lt = dict(zip(CXRLT26, cxrlt_row(rep, r, 0.0), strict=True))
    assert lt["Emphysema"] == 1 and lt["Pneumonia"] == 1 and lt["Pleural Effusion"] == 0 and lt["No Finding"] == 0


def test_noise_rate_is_roughly_the_knob():
    rep = Report(text="", impression=[("Cardiomegaly", 1.0), ("Pleural Effusion", 0.0)])
    rows = [chexpert_row(rep, np.random.default_rng(i), 0.3) for i in range(400)]
    card = np.array([row[CHEXPERT14.index("Cardiomegaly")] for row in rows])
    flipped = np.mean(card != 1.0)
    assert 0.2 < flipped < 0.4
