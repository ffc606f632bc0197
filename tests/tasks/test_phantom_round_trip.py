"""Over every annotation a phantom yields, each task's parser exactly inverts its formatter."""

import json

import pytest

from imax.phantom import generate
from imax.schema.config.phantom import PhantomConfig
from imax.schema.config.sources import SourcesConfig
from imax.sources import read_sources
from imax.tasks import TASKS


@pytest.fixture(scope="module")
def annotations(tmp_path_factory):
    root = tmp_path_factory.mktemp("phantom")
    generate(PhantomConfig(out=root, patients=60, seed=3, image_size=64, workers=1, edema_cohort_fraction=0.5))
    return read_sources(root, SourcesConfig(check_images=False)).annotations


def test_every_task_is_present(annotations):
    assert set(annotations["task"].unique()) == set(TASKS)


def test_parse_of_format_is_canonical_for_every_annotation(annotations):
    failures = []
    for row in annotations.iter_rows(named=True):
        spec = TASKS[row["task"]]
        query, answer = json.loads(row["query"]), json.loads(row["answer"])
        text = spec.format_answer(query, answer)
        if spec.parse_answer(text, query) != spec.canonical(query, answer):
            failures.append((row["task"], text))
        spec.render_instruction(query, hash(row["dicom_id"]) % 7)  # every query renders
    assert not failures, failures[:5]
    assert annotations.height > 500
