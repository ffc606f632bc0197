"""Turn an :class:`ExperimentConfig` into the concrete configs of every stage.

Every run of the study shares one recipe: the same base, model, step budget, batch and schedule;
only the training data (IMAX, DMAX, pseudo-IMAX) and the seed differ. Building all configs in one
place keeps that true by construction.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

from imax.schema.config.build import BuildConfig
from imax.schema.config.evaluate import EvalConfig
from imax.schema.config.experiment import ExperimentConfig
from imax.schema.config.fisher import FisherConfig
from imax.schema.config.model import ModelConfig, TextSettings, VisionSettings
from imax.schema.config.phantom import STUDY_COVERAGE, PhantomConfig
from imax.schema.config.pseudo import PseudoConfig
from imax.schema.config.train import PretrainConfig, TrainConfig

ARMS: tuple[str, ...] = ("imax", "dmax", "pseudo_imax")
CONTROL = "dmax_half"
"""The positive control arm: DMAX at half the per-task train volume, trained with the same recipe for the
same number of epochs (so about half the optimizer steps: less data and fewer updates), scored like the arms."""
CONTROL_PARENT = "dmax"
CONTROL_VOLUME = 0.5
"""The control's per-task train-entry cap as a fraction of the arms' cap."""
FISHER_FRACTIONS: tuple[float, ...] = (0.0, 0.1, 0.5, 1.0)
PRETRAIN_REPORT = "pretrain_report.json"
"""What ``imax pretrain`` writes beside a tiny base it built (a real checkpoint has none)."""
LM_HEAD = "lm_head"
"""The output head's module name in transformers' LLaVA (``LlavaForConditionalGeneration.lm_head``)."""


@dataclass(frozen=True)
class Plan:
    """Resolved paths and configs of one experiment."""

    out: Path
    sources: Path
    phantom: PhantomConfig | None
    builds: dict[str, BuildConfig]
    model: ModelConfig
    pretrain: PretrainConfig | None
    seeds: tuple[int, ...]

    def run_dir(self, arm: str, seed: int) -> Path:
        return self.out / "runs" / f"{arm}-seed{seed}"

    def eval_dir(self, arm: str, seed: int) -> Path:
        return self.out / "eval" / f"{arm}-seed{seed}"


def model_config(cfg: ExperimentConfig) -> ModelConfig:
    """The preset's model: ``tiny`` is ModelConfig's default (~8 M parameters); ``micro`` is a
    seconds-scale version of the same classes for the smoke preset. A user's ``--base`` replaces it."""
    if cfg.resolved("model") == "tiny":
        return ModelConfig()
    return ModelConfig(
        vision=replace(VisionSettings(), image_size=32, patch_size=16, hidden_size=64, num_layers=2, num_heads=2,
                       intermediate_size=128),
        text=replace(TextSettings(), hidden_size=64, num_layers=2, num_heads=2, num_kv_heads=2,
                     intermediate_size=176),
        vocab_size=600,
    )


def make_plan(cfg: ExperimentConfig) -> Plan:
    out = Path(cfg.out)
    phantom = None
    if cfg.sources is None:
        phantom = PhantomConfig(
            out=out / "phantom", patients=cfg.resolved("patients"), seed=cfg.phantom_seed,
            image_size=cfg.resolved("image_size"), **STUDY_COVERAGE,
        )
    sources = Path(cfg.sources) if cfg.sources is not None else out / "phantom"
    builds = {
        mode: BuildConfig(sources=sources, out=out / "data" / mode, mode=mode, seed=0,
                          test_fraction=cfg.resolved("test_fraction"), max_test_images=cfg.resolved("eval_images"))
        for mode in ("imax", "dmax")
    }
    if cfg.control:  # its cap is set from the arms' fitted cap when the data are built
        builds[CONTROL] = replace(builds[CONTROL_PARENT], out=out / "data" / CONTROL)
    model = model_config(cfg)
    pretrain = None
    if cfg.base is None:
        pretrain = PretrainConfig(out=Path(cfg.cache), preset=cfg.resolved("pretrain_preset"), model=model)
    return Plan(out=out, sources=sources, phantom=phantom, builds=builds, model=model, pretrain=pretrain,
                seeds=tuple(range(cfg.seeds)))


def trains_lm_head(cfg: ExperimentConfig) -> bool:
    """Whether every fine-tuning run trains the LM head beside LoRA (``ExperimentConfig.train_lm_head``;
    None: only on a tiny base imax pretrained, whose head rows a CPU-scale pretraining leaves nearly
    parallel: the one built here, or a ``--base`` holding imax's ``pretrain_report.json``)."""
    if cfg.train_lm_head is not None:
        return cfg.train_lm_head
    return cfg.base is None or (Path(cfg.base) / PRETRAIN_REPORT).is_file()


def train_config(cfg: ExperimentConfig, plan: Plan, base: Path, data: Path, out: Path, seed: int) -> TrainConfig:
    """The shared fine-tuning recipe: same base, steps, batch, schedule and trainable set for every arm."""
    steps = cfg.resolved("steps")
    model = plan.model
    if trains_lm_head(cfg) and LM_HEAD not in model.lora.modules_to_save:
        model = replace(model, lora=replace(model.lora, modules_to_save=(*model.lora.modules_to_save, LM_HEAD)))
    return TrainConfig(
        data=data, base=base, out=out, model=model, max_steps=steps,
        batch_size=cfg.resolved("batch_size"), length_group=cfg.resolved("length_group"), lr=cfg.resolved("lr"),
        projector_lr=cfg.resolved("projector_lr"), loss_average=cfg.resolved("loss_average"),
        lora_plus_ratio=cfg.resolved("lora_plus_ratio"), task_temperature=cfg.resolved("task_temperature"), seed=seed,
        save_every_steps=max(1, steps // 4) if steps else 500, log_every_steps=max(1, (steps or 200) // 40),
        fisher_fractions=FISHER_FRACTIONS if cfg.fisher else (), resume=True, progress=False,
    )


def eval_config(
    cfg: ExperimentConfig, plan: Plan, run: Path, out: Path, seed: int, train_data: Path
) -> EvalConfig:
    """Every arm is scored on the same image-centric test split (the IMAX build's, equal to DMAX's);
    its trivial baselines are fitted on the train split of its own training data ``train_data``."""
    return EvalConfig(model=run / "checkpoints" / "final", data=plan.builds["imax"].out, out=out, split="test",
                      seed=seed, bootstrap=cfg.resolved("bootstrap"), meteor=cfg.preset != "smoke",
                      baseline_data=train_data)


def fisher_config(cfg: ExperimentConfig, plan: Plan, run: Path) -> FisherConfig:
    """One probe set for every run: the IMAX build's val split (image-centric, never the test split)."""
    return FisherConfig(run=run, data=plan.builds["imax"].out, out=run / "fisher.json", split="val",
                        n_probe=cfg.resolved("fisher_probe"), seed=0, plot=False)


def pseudo_config(cfg: ExperimentConfig, plan: Plan, train: TrainConfig, stage1: Path, seed: int) -> PseudoConfig:
    return PseudoConfig(data=plan.builds["dmax"].out, out=plan.run_dir("pseudo_imax", seed), train=train,
                        stage1=stage1, max_images=cfg.resolved("pseudo_images"), seed=seed)
