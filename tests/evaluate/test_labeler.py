"""The rule-based CheXpert labeler on hand-written report sentences (1 positive, 0 negative, -1 uncertain)."""

from __future__ import annotations

import pytest

from imax.evaluate.labeler import extract_mentions, label_report, laterality, positive_labels, split_sentences

# (sentence, expected labels excluding "No Finding", which is checked separately)
CASES: list[tuple[str, dict[str, int]]] = [
    # negation
    ("No pleural effusion.", {"Pleural Effusion": 0}),
    ("No pleural effusion or pneumothorax.", {"Pleural Effusion": 0, "Pneumothorax": 0}),
    ("There is no focal consolidation.", {"Consolidation": 0}),
    ("Lungs are clear without consolidation or edema.", {"Consolidation": 0, "Edema": 0}),
    ("The lungs are free of any focal opacity.", {"Lung Opacity": 0}),
    ("Negative for pneumothorax.", {"Pneumothorax": 0}),
    ("The previously seen effusion has resolved.", {"Pleural Effusion": 0}),
    ("Pneumothorax is not seen.", {"Pneumothorax": 0}),
    ("No evidence of acute fracture.", {"Fracture": 0}),
    ("The endotracheal tube has been removed.", {"Support Devices": 0}),
    # uncertainty
    ("Cannot exclude pneumonia.", {"Pneumonia": -1}),
    ("Pneumonia cannot be excluded.", {"Pneumonia": -1}),
    ("Possible small left pleural effusion.", {"Pleural Effusion": -1}),
    ("Opacity may represent atelectasis.", {"Lung Opacity": 1, "Atelectasis": -1}),
    ("Findings are concerning for early pneumonia.", {"Pneumonia": -1}),
    ("Likely bibasilar atelectasis.", {"Atelectasis": -1}),
    ("Borderline cardiomegaly.", {"Cardiomegaly": -1}),
    (
        "Right lower lobe opacity, atelectasis versus consolidation.",
        {"Lung Opacity": 1, "Atelectasis": -1, "Consolidation": -1},
    ),
    # synonyms and positives
    ("Enlarged heart.", {"Cardiomegaly": 1}),
    ("The heart is mildly enlarged.", {"Cardiomegaly": 1}),
    ("Moderate cardiomegaly is unchanged.", {"Cardiomegaly": 1}),
    ("Small right apical PTX.", {"Pneumothorax": 1}),
    # CheXpert: vascular congestion is uncertain Edema; CHF adds an uncertain Cardiomegaly
    ("Mild pulmonary vascular congestion.", {"Edema": -1}),
    ("Findings consistent with congestive heart failure.", {"Edema": 1, "Cardiomegaly": -1}),
    ("Widened mediastinum.", {"Enlarged Cardiomediastinum": 1}),
    ("A 1 cm nodule in the left upper lobe.", {"Lung Lesion": 1}),
    ("Healed left rib fractures.", {"Fracture": 1}),
    ("Right PICC line terminates in the SVC.", {"Support Devices": 1}),
    ("Dual-lead pacemaker in place.", {"Support Devices": 1}),
    ("Blunting of the left costophrenic angle.", {"Pleural Effusion": -1}),  # fluid or thickening
    ("Right apical pleural thickening.", {"Pleural Other": 1}),
    ("Patchy infiltrate in the right lower lobe.", {"Lung Opacity": 1}),
    # constructed negatives and scope
    ("Heart size is normal.", {"Cardiomegaly": 0}),
    ("The heart is not enlarged.", {"Cardiomegaly": 0}),
    ("Normal cardiomediastinal silhouette.", {"Enlarged Cardiomediastinum": 0}),
    ("No effusion, but there is a small right pneumothorax.", {"Pleural Effusion": 0, "Pneumothorax": 1}),
    ("Likely atelectasis, no pneumonia.", {"Atelectasis": -1, "Pneumonia": 0}),
    ("Pericardial effusion.", {}),  # not a pleural effusion
    ("Mild cardiomegaly. No pleural effusion.", {"Cardiomegaly": 1, "Pleural Effusion": 0}),
]


# Issue 17's confirmed defects, one regression case each (No Finding excluded, as above).
DEFECTS: list[tuple[str, dict[str, int]]] = [
    ("Resolved bibasilar atelectasis.", {"Atelectasis": 0}),
    ("Nonenlarged cardiomediastinal silhouette.", {"Enlarged Cardiomediastinum": 0}),
    ("Nonconsolidating opacity in the right lower lobe.", {"Lung Opacity": 1}),
    ("No focal opacity to suggest pneumonia.", {"Lung Opacity": 0, "Pneumonia": 0}),
    ("Interval removal of the chest tube.", {"Support Devices": 0}),
    ("Interval extubation.", {"Support Devices": 0}),
    ("Status post median sternotomy.", {}),
    ("Surgical clips in the left axilla.", {"Support Devices": 1}),
    ("Clips project over the right upper quadrant.", {"Support Devices": 1}),
    ("Left chest wall port.", {"Support Devices": 1}),
    ("Vagal nerve stimulator.", {"Support Devices": 1}),
    ("Prosthetic mitral valve.", {"Support Devices": 1}),
    ("Atrial septal defect closure device.", {"Support Devices": 1}),
    ("Portable AP view of the chest.", {}),
    ("The heart is large.", {"Cardiomegaly": 1}),
    ("Heart size mildly enlarged for technique.", {"Cardiomegaly": 1}),
    ("Heart size remains slightly large.", {"Cardiomegaly": 1}),
    ("The mediastinal silhouette is widened.", {"Enlarged Cardiomediastinum": 1}),
    ("Prominence of the superior mediastinum.", {"Enlarged Cardiomediastinum": 1}),
    ("Right paratracheal prominence.", {"Enlarged Cardiomediastinum": 1}),
    ("Pulmonary vascular congestion.", {"Edema": -1}),
    ("Central vascular prominence.", {"Edema": -1}),
    ("Pulmonary venous hypertension.", {"Edema": -1}),
    ("Pulmonary vascular engorgement is within normal limits.", {"Edema": 0}),
    ("Right lower lobe opacity raises concern for pneumonia.", {"Lung Opacity": 1, "Pneumonia": -1}),
    ("The opacity could indicate pneumonia.", {"Lung Opacity": 1, "Pneumonia": -1}),
    ("Pneumonia is difficult to exclude.", {"Pneumonia": -1}),
    ("Pneumonia is in the differential.", {"Pneumonia": -1}),
    ("No significant change in the effusion.", {"Pleural Effusion": 1}),
    ("Density over the left sixth rib.", {}),
    ("Nodular density likely representing nipple shadow.", {}),
    ("Retrocardiac density consistent with a hiatal hernia.", {}),
    ("Calcified granuloma in the right upper lobe.", {}),
]


@pytest.mark.parametrize(("text", "expected"), DEFECTS, ids=[c[0][:40] for c in DEFECTS])
def test_issue17_defects(text, expected):
    got = label_report(text)
    got.pop("No Finding", None)
    assert got == expected


def test_no_finding_needs_no_other_finding():
    # CheXpert's no_finding.txt: a positive "other" finding (granuloma, hernia, scoliosis) rules it out
    assert "No Finding" not in label_report("Calcified granuloma in the right upper lobe.")
    assert "No Finding" not in label_report("Small hiatal hernia.")
    assert label_report("No hiatal hernia. Lungs are clear.") == {"No Finding": 1}


@pytest.mark.parametrize(("text", "expected"), CASES, ids=[c[0][:40] for c in CASES])
def test_labels(text, expected):
    got = label_report(text)
    got.pop("No Finding", None)
    assert got == expected


def test_at_least_thirty_sentences():
    assert len(CASES) >= 30


def test_no_finding_rule():
    assert label_report("No acute cardiopulmonary process. Lungs are clear.")["No Finding"] == 1
    assert label_report("No effusion. ET tube in place.")["No Finding"] == 1  # devices do not count
    assert "No Finding" not in label_report("Cannot exclude pneumonia.")  # uncertain counts as a finding
    assert "No Finding" not in label_report("Small left effusion.")
    assert label_report("") == {}


def test_positive_labels_and_uncertain_policy():
    text = "Cardiomegaly. Possible pneumonia. No pneumothorax."
    assert positive_labels(text) == {"Cardiomegaly"}
    assert positive_labels(text, uncertain_as_positive=True) == {"Cardiomegaly", "Pneumonia"}


def test_positive_beats_negative_across_sentences():
    # CheXpert aggregation: any positive mention makes the report positive.
    assert label_report("No effusion on the left. Small right effusion.")["Pleural Effusion"] == 1


def test_laterality_attributes():
    assert laterality("Small left pleural effusion.") == {"Pleural Effusion": {"left"}}
    assert laterality("Bilateral pleural effusions.") == {"Pleural Effusion": {"bilateral"}}
    assert laterality("Right upper lobe consolidation. No left effusion.") == {"Consolidation": {"right"}}
    m = extract_mentions("Left and right lower lobe atelectasis.")
    assert [(x.label, x.side) for x in m] == [("Atelectasis", "bilateral")]


def test_sentence_split_keeps_decimals():
    assert split_sentences("Nodule of 0.5 cm. No effusion.\nHeart normal") == [
        "Nodule of 0.5 cm.",
        "No effusion.",
        "Heart normal",
    ]


def test_metrics_record_their_labeler():
    from imax.evaluate.plugins import PLUGIN_METRICS
    from imax.evaluate.scorers import SCORERS, ScoreContext

    metrics, _, details = SCORERS["free_text"](
        [{}, {}],
        [{"text": "Small left effusion."}, None],
        [{"text": "Small left effusion."}, {"text": "No effusion."}],
        ScoreContext(plugin_unavailable={"chexbert": "no weights"}),
    )
    assert metrics["ce_f1_micro"] == pytest.approx(
        2 / 3
    )  # effusion found; the "No Finding" of the unparsed row missed
    labelers = details["labelers"]
    assert labelers["ce_f1_micro"] == labelers["ce_f1/Pleural Effusion"] == "imax-rules-chexpert"
    assert labelers["chexbert_f1_micro"] == "chexbert"  # present (None: unavailable) and attributed
    assert set(labelers) == {k for k in metrics if k.startswith("ce_")} | set(PLUGIN_METRICS["chexbert"])


def test_literal_prefilter_changes_nothing():
    """The speed-up (run a regex only when one of its required literals is in the sentence) must not
    change any mention: every corpus sentence gives the same mentions with every regex run."""
    from imax.evaluate.labeler.scope import sentence_mentions

    from .data.labeler_corpus import ALL_BATCHES

    for text, _ in ALL_BATCHES + CASES + DEFECTS:
        for k, sentence in enumerate(split_sentences(text)):
            assert sentence_mentions(sentence, k) == sentence_mentions(sentence, k, prefilter=False), sentence
