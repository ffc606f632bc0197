"""End to end: a real (tiny) imax training run with named checkpoints → fisher.json → plots, and the
vmap route checked against the loop on the real LLaVA + collator."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from PIL import Image

from imax.cli import main
from imax.data import ModelInterface
from imax.fisher import fisher_for_run, per_sample_grads, select_params
from imax.fisher.run import checkpoint_dir, load_checkpoint
from imax.model import make_processor
from imax.schema.config.fisher import FisherConfig
from imax.schema.config.model import ModelConfig
from imax.schema.config.train import TrainConfig
from imax.schema.errors import MissingPathError

ANSWERS = {"calculation": "0.{k}1", "report": "heart normal {k}.", "vqa": "yes {k}"}
QUERIES = {
    "calculation": {"measure": "ctr"},
    "report": {},
    "vqa": {"question": "is the heart enlarged?", "content_type": "", "semantic_type": ""},
}


def make_dataset(root: Path, n_images: int = 8, n_val: int = 4) -> Path:
    from imax.tasks import TASKS

    rng = np.random.default_rng(0)
    (root / "images").mkdir(parents=True)
    rows = []
    for k in range(n_images):
        Image.fromarray(rng.integers(0, 255, (32, 32), dtype=np.uint8), mode="L").save(
            root / "images" / f"{k}.png"
        )
        for task, query in QUERIES.items():
            rows.append(
                {
                    "id": f"d{k}:{task}:0",
                    "dicom_id": f"d{k}",
                    "subject_id": 10000000 + k,
                    "split": "val" if k >= n_images - n_val else "train",
                    "task": task,
                    "source": "hand",
                    "query": json.dumps(query),
                    "answer": "{}",
                    "instruction": TASKS[task].render_instruction(query, k),
                    "response": ANSWERS[task].format(k=k),
                    "image": f"images/{k}.png",
                    "provenance": "real",
                }
            )
    pd.DataFrame(rows).to_parquet(root / "entries.parquet", index=False)
    (root / "manifest.json").write_text(json.dumps({"id": "fisher-test", "data_root": str(root.resolve())}))
    return root


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    from imax.train import train

    root = tmp_path_factory.mktemp("fisher_run")
    data = make_dataset(root / "data")
    model = ModelConfig.tiny(text_num_layers=1)
    # 12 train entries / batch 4 × 3 epochs = 9 steps: initial/early/mid/late fall on distinct steps
    cfg = TrainConfig(
        data=data,
        out=root / "run",
        model=model,
        epochs=3,
        batch_size=4,
        max_length=96,
        lr=5e-3,
        warmup_ratio=0.1,
        save_every_steps=0,
        log_every_steps=100,
        progress=False,
        seed=0,
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        train(cfg)
    return root / "run", data


def test_fisher_for_run_writes_one_record_per_checkpoint(trained, tmp_path):
    run, data = trained
    recs = fisher_for_run(run, data, FisherConfig(n_probe=12, out=tmp_path / "fisher.json"))
    saved = json.loads((tmp_path / "fisher.json").read_text())
    assert saved == json.loads(json.dumps(recs))
    assert [r["checkpoint"] for r in recs] == ["initial", "early", "mid", "late"]
    assert recs[0]["fraction"] == 0.0 and recs[-1]["fraction"] == 1.0
    steps = [r["step"] for r in recs]
    assert steps == sorted(steps) and len(set(steps)) == 4
    for r in recs:
        assert r["method"] == "vmap" and r["n_samples"] == 12 and len(r["eigenvalues"]) == 12
        assert set(r["per_task"]) == {"calculation", "report", "vqa"}
        assert r["task_cosine"]["tasks"] == ["calculation", "report", "vqa"]
        assert 0 < r["rho"] <= 1 and 0 <= r["se"] <= np.log(12) + 1e-9
        assert r["probe"]["split"] == "val" and r["probe"]["ids_sha256"] == recs[0]["probe"]["ids_sha256"]


def test_vmap_equals_loop_on_the_real_model_and_collator(trained):
    from imax.data import TrainCollator, load_entries, read_data_root

    run, data = trained
    model, tok = load_checkpoint(checkpoint_dir(run, "mid"))
    core = model.get_base_model()
    collate = TrainCollator(ModelInterface.from_processor(make_processor(core, tok)), read_data_root(data), 96)
    batch = collate(load_entries(data, "val")[:5])
    names = list(select_params(model))
    loop = per_sample_grads(model, batch, names, "loop")
    vm = per_sample_grads(model, batch, names, "vmap")
    torch.testing.assert_close(vm, loop, rtol=1e-4, atol=1e-5 * float(loop.abs().max()))


def test_cli_writes_json_and_plots_and_errors_cleanly(trained, tmp_path, capsys):
    run, data = trained
    out = tmp_path / "cli" / "fisher.json"
    assert (
        main(
            [
                "fisher",
                "--run",
                str(run),
                "--data",
                str(data),
                "--n-probe",
                "6",
                "--checkpoints",
                "initial,late",
                "--out",
                str(out),
            ]
        )
        == 0
    )
    assert [r["checkpoint"] for r in json.loads(out.read_text())] == ["initial", "late"]
    for name in ("fisher_spectra.png", "fisher_trajectory.png", "fisher_task_cosine.png"):
        assert (out.parent / name).stat().st_size > 5000
    assert main(["fisher", "--run", str(run), "--data", str(data), "--split", "test"]) == 2
    assert main(["fisher", "--run", str(run), "--data", str(data), "--checkpoints", "nope"]) == 2
    assert "no named checkpoint 'nope'" in capsys.readouterr().err
    with pytest.raises(MissingPathError):
        checkpoint_dir(run, "nope")
