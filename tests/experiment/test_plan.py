"""The shared recipe: which parameters every fine-tuning run trains."""

from pathlib import Path

import pytest

from imax.experiment.plan import LM_HEAD, make_plan, train_config
from imax.schema.config.experiment import ExperimentConfig


def _saved(cfg: ExperimentConfig) -> tuple[str, ...]:
    plan = make_plan(cfg)
    tc = train_config(cfg, plan, Path("base"), Path("data"), Path("run"), seed=0)
    return tc.model.lora.modules_to_save


@pytest.mark.parametrize(("base", "flag", "trains_head"), [
    (None, None, True),  # imax's tiny base: its digit head rows are nearly parallel, so the head trains
    (Path("/models/llava-1.5-7b-hf"), None, False),  # a real LLM's head stays frozen, as in the study
    (Path("/models/llava-1.5-7b-hf"), True, True),  # the user can ask for it
    (None, False, False),  # or turn it off on the tiny base
])
def test_the_lm_head_trains_on_the_tiny_base_only_unless_asked(tmp_path, base, flag, trains_head):
    cfg = ExperimentConfig(out=tmp_path, preset="smoke", base=base, train_lm_head=flag)
    saved = _saved(cfg)
    assert "multi_modal_projector" in saved
    assert (LM_HEAD in saved) is trains_head


def test_a_base_imax_pretrained_counts_as_the_tiny_base(tmp_path):
    base = tmp_path / "cache" / "6a4dc6d649108b65"
    base.mkdir(parents=True)
    assert LM_HEAD not in _saved(ExperimentConfig(out=tmp_path, preset="smoke", base=base))
    (base / "pretrain_report.json").write_text("{}")
    assert LM_HEAD in _saved(ExperimentConfig(out=tmp_path, preset="smoke", base=base))



@pytest.mark.parametrize("preset", ["smoke", "quick", "full"])
def test_every_arm_gets_the_task_temperature_asked_for_or_the_presets(tmp_path, preset):
    cfg = ExperimentConfig(out=tmp_path, preset=preset)
    plan = make_plan(cfg)
    tcfg = train_config(cfg, plan, tmp_path / "base", tmp_path / "data", tmp_path / "run", 0)
    assert tcfg.task_temperature == cfg.resolved("task_temperature") > 0
    asked = ExperimentConfig(out=tmp_path, preset=preset, task_temperature=2.5)
    assert train_config(asked, make_plan(asked), tmp_path / "base", tmp_path / "data", tmp_path / "run",
                        0).task_temperature == 2.5
