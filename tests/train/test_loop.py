"""The loop on a tiny dataset: loss goes down, the optimizer holds exactly the trainable set, checkpoint
files are safetensors/JSON only with the artifacts beside them, per-task loss is logged."""

from __future__ import annotations

import json

import pytest
import torch
from safetensors.torch import load_file

from imax.data import ModelInterface
from imax.model import make_processor
from imax.train.logging import read_log
from imax.train.loop import answer_losses, build_optimizer, token_losses, train

from .conftest import tiny_config


@pytest.fixture(scope="module")
def run(tiny_data, tmp_path_factory):
    cfg = tiny_config(tiny_data, tmp_path_factory.mktemp("run"), epochs=8, lr=2e-2, save_every_steps=4)
    return cfg, train(cfg)


def test_loss_goes_down(run):
    _, result = run
    first, last = sum(result.losses[:4]) / 4, sum(result.losses[-4:]) / 4
    assert result.steps == 48 and len(result.losses) == 48
    # A random frozen LM head caps how far LoRA alone can move the logits; a clear drop is enough here.
    assert last < first - 0.1, (first, last)


def test_per_task_loss_is_logged(run):
    cfg, _ = run
    records = [r for r in read_log(cfg.out) if "loss" in r]
    seen = set()
    for r in records:
        assert {"step", "loss", "task_loss", "lr", "samples_per_s", "tokens_per_s"} <= set(r)
        seen |= set(r["task_loss"])
    assert seen == {"calculation", "report", "multilabel", "vqa"}
    assert (cfg.out / "tb").is_dir() and any((cfg.out / "tb").iterdir())


def test_checkpoints_are_safetensors_and_json_with_artifacts(run):
    cfg, _result = run
    root = cfg.out / "checkpoints"
    names = sorted(p.name for p in root.iterdir())
    assert names == ["final", "fisher-early", "fisher-initial", "fisher-late", "fisher-mid",
                     "step-000044", "step-000048"]  # keep_last=2, no .tmp- leftovers
    for ckpt in root.iterdir():
        for f in ckpt.rglob("*"):
            if f.is_file():
                assert f.suffix in {".safetensors", ".json", ".yaml", ".md"}, f  # no pickle anywhere
        for name in ("config.yaml", "tasks.json", "data_manifest.json", "base.json", "state.json",
                     "adapter/adapter_model.safetensors", "adapter/adapter_config.json"):
            assert (ckpt / name).is_file(), ckpt / name
    assert json.loads((root / "final" / "data_manifest.json").read_text())["id"] == "tiny-manifest-0001"
    assert "calculation" in json.loads((root / "final" / "tasks.json").read_text())
    state = json.loads((root / "fisher-mid" / "state.json").read_text())
    assert state["step"] == 24 and state["epoch"] == 4
    # the trainable set saved = LoRA on the LM + projector copy; nothing of the vision tower
    keys = load_file(str(root / "final" / "trainable.safetensors"))
    assert keys and all(".lora_" in k or "multi_modal_projector.modules_to_save" in k for k in keys)
    assert not any("vision_tower" in k for k in keys)
    initial = load_file(str(root / "fisher-initial" / "trainable.safetensors"))
    assert any(not torch.equal(initial[k], keys[k]) for k in keys)


def test_optimizer_holds_exactly_the_trainable_set(run):
    from imax.model import apply_lora, load_base, trainable_parameter_names

    cfg, _ = run
    model, _ = load_base(cfg.out / "base")
    model = apply_lora(model, cfg.model.lora)
    optimizer, names = build_optimizer(model, cfg)
    in_opt = {id(p) for g in optimizer.param_groups for p in g["params"]}
    trainable = {id(p) for p in model.parameters() if p.requires_grad}
    assert in_opt == trainable
    assert sorted(names) == trainable_parameter_names(model)
    # decay only on matrices
    assert all(p.dim() >= 2 for p in optimizer.param_groups[0]["params"])
    assert all(p.dim() < 2 for p in optimizer.param_groups[1]["params"])


def test_projector_lr_puts_the_projector_in_groups_of_its_own(run):
    from dataclasses import replace

    from imax.model import apply_lora, load_base

    cfg, _ = run
    model, _ = load_base(cfg.out / "base")
    model = apply_lora(model, cfg.model.lora)
    optimizer, names = build_optimizer(model, replace(cfg, lr=1e-3, projector_lr=1e-4))
    assert len(optimizer.param_groups) == 4
    by_id = dict(zip([id(p) for g in optimizer.param_groups for p in g["params"]], names, strict=True))
    for group in optimizer.param_groups:
        projector = {"multi_modal_projector" in by_id[id(p)] for p in group["params"]}
        assert projector <= ({True} if group["peak_lr"] == 1e-4 else {False})  # LoRA has no no-decay params
    assert [g["peak_lr"] for g in optimizer.param_groups] == pytest.approx([1e-3, 1e-3, 1e-4, 1e-4])
    assert any("multi_modal_projector" in n for n in names) and len(names) == len(set(names))
    same, _ = build_optimizer(model, replace(cfg, projector_lr=None))
    assert len(same.param_groups) == 2 and all(g["peak_lr"] == cfg.lr for g in same.param_groups)


def test_the_loop_runs_the_projector_on_its_own_peak(run, tmp_path):
    from dataclasses import replace

    from imax.train.checkpoint import read_json

    cfg, _ = run
    short = replace(cfg, out=tmp_path / "p", epochs=None, max_steps=4, save_every_steps=0, fisher_fractions=(),
                    lr=1e-2, projector_lr=0.0, warmup_ratio=0.0, min_lr_ratio=0.5)
    train(short)
    groups = read_json(tmp_path / "p" / "checkpoints" / "final" / "optimizer.json")["param_groups"]
    # the last step's rate: LoRA groups at the cosine's floor (half of 1e-2), the projector's at half of 0
    assert [g["peak_lr"] for g in groups] == [1e-2, 1e-2, 0.0, 0.0]
    assert groups[0]["lr"] == pytest.approx(5e-3) and groups[2]["lr"] == groups[3]["lr"] == 0.0


@pytest.mark.parametrize("rates", [{"lr": -1e-3}, {"projector_lr": -1e-4}, {"lr": float("nan")},
                                   {"lora_plus_ratio": 0.0}, {"lora_plus_ratio": float("nan")},
                                   {"length_group": 0}, {"length_group": -2}, {"task_temperature": 0.0},
                                   {"task_temperature": float("nan")}, {"task_temperature": float("inf")}])
def test_bad_rates_and_length_group_are_one_line_errors(run, tmp_path, rates):
    from dataclasses import replace

    from imax.schema.errors import ImaxError

    cfg, _ = run
    with pytest.raises(ImaxError, match=r"learning rates must be >= 0: got lr=|lora_plus_ratio must be > 0|length_group must be >= 1"
                       r"|task_temperature must be a finite number > 0") as err:
        train(replace(cfg, out=tmp_path / "bad", **rates))
    assert "\n" not in str(err.value) and not (tmp_path / "bad").exists()


def test_token_losses_match_the_model_loss(run):
    from imax.data import TrainCollator, load_entries
    from imax.model import load_base

    cfg, _ = run
    model, tok = load_base(cfg.out / "base")
    collate = TrainCollator(ModelInterface.from_processor(make_processor(model, tok)), cfg.data, 96)
    batch = collate(load_entries(cfg.data, "train")[:3])
    out = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"],
                pixel_values=batch["pixel_values"], labels=batch["labels"])
    losses, mask = token_losses(out.logits, batch["labels"])
    assert torch.allclose(losses.sum() / mask.sum(), out.loss, atol=1e-6)
    # logits only at answer positions: the same per-token losses, in row-major order, with their rows
    answer, rows = answer_losses(model, batch)
    assert answer.shape == (int(mask.sum()),)
    assert torch.allclose(answer, losses[mask], atol=1e-5)
    assert torch.equal(rows, mask.nonzero()[:, 0])
    assert torch.allclose(answer.mean(), out.loss, atol=1e-6)


def test_init_from_starts_where_a_run_ended(run, tiny_data, tmp_path):
    _, first = run
    source = first.final
    cfg = tiny_config(tiny_data, tmp_path / "continued", max_steps=1, lr=0.0, warmup_ratio=0.0,
                      init_from=source, base=first.out / "base", fisher_fractions=())
    result = train(cfg)
    # lr = 0: the continued run's weights are exactly the loaded ones
    before = load_file(str(source / "trainable.safetensors"))
    after = load_file(str(result.final / "trainable.safetensors"))
    assert before.keys() == after.keys() and all(torch.equal(before[k], after[k]) for k in before)


def test_loss_average_weighs_tokens_or_samples():
    from imax.train.step import IGNORE, loss_units, weighted_sum

    # row 0: three answer tokens of loss 1; row 1: one answer token of loss 4; row 2: no answer token
    losses, rows = torch.tensor([1.0, 1.0, 1.0, 4.0]), torch.tensor([0, 0, 0, 1])
    labels = torch.full((3, 6), IGNORE)
    labels[0, 2:5] = 7
    labels[1, 5] = 7
    assert loss_units(labels, "token") == 4 and loss_units(labels, "sample") == 2
    assert float(weighted_sum(losses, rows, "token")) / 4 == pytest.approx(7 / 4)
    assert float(weighted_sum(losses, rows, "sample")) / 2 == pytest.approx((1.0 + 4.0) / 2)
    with pytest.raises(ValueError, match="loss_average"):
        weighted_sum(losses, rows, "entry")


def test_sample_average_trains_a_different_model(run, tmp_path):
    from dataclasses import replace

    cfg, _ = run
    kw = {"epochs": None, "max_steps": 3, "save_every_steps": 0, "fisher_fractions": ()}
    token = train(replace(cfg, out=tmp_path / "t", loss_average="token", **kw))
    sample = train(replace(cfg, out=tmp_path / "s", loss_average="sample", **kw))
    # step 1's logged loss (the token mean, logged every step here) comes before any update: the same
    assert token.losses[0] == pytest.approx(sample.losses[0])
    a = load_file(token.final / "adapter" / "adapter_model.safetensors")
    b = load_file(sample.final / "adapter" / "adapter_model.safetensors")
    assert any(not torch.equal(a[k], b[k]) for k in a)


def test_tasks_trains_on_those_tasks_only(run, tmp_path):
    from dataclasses import replace

    cfg, _ = run
    one = replace(cfg, out=tmp_path / "one", tasks=("calculation",), epochs=None, max_steps=3, save_every_steps=0,
                  fisher_fractions=())
    train(one)
    logged = [r["task_loss"] for r in read_log(tmp_path / "one") if "task_loss" in r]
    assert logged and all(set(t) == {"calculation"} for t in logged)


@pytest.mark.parametrize(("tasks", "says"), [(("calculus",), "unknown task"), (("rec",), "entries.parquet")])
def test_tasks_that_cannot_be_trained_are_one_line_errors(run, tmp_path, tasks, says):
    from dataclasses import replace

    from imax.schema.errors import ImaxError

    cfg, _ = run
    with pytest.raises(ImaxError, match=says):
        train(replace(cfg, out=tmp_path / "x", tasks=tasks, max_steps=1))


def test_length_grouping_draws_batches_of_similar_length(run, tmp_path):
    from dataclasses import replace

    from imax.train.loop import entry_lengths
    from imax.train.sampler import StreamSampler

    cfg, _ = run
    grouped = replace(cfg, out=tmp_path / "g", length_group=4, epochs=None, max_steps=4, save_every_steps=0,
                      fisher_fractions=())
    assert train(grouped).steps == 4
    from imax.data import load_entries

    entries = load_entries(cfg.data, "train")
    lengths = entry_lengths(entries)
    assert lengths.shape == (len(entries),) and lengths.min() > 0
    kw = {"seed": cfg.seed, "batch_size": cfg.batch_size, "total_steps": 8}
    spread = lambda s: sum(int(lengths[b].max() - lengths[b].min()) for b in s)  # noqa: E731
    assert spread(StreamSampler(len(entries), **kw, lengths=lengths, group=4)) < spread(StreamSampler(len(entries), **kw))


def test_task_temperature_mixes_the_run_by_its_entries_tasks(run, tmp_path):
    from dataclasses import replace

    from imax.data import load_entries
    from imax.tasks import task_names
    from imax.train.loop import entry_tasks

    cfg, _ = run
    entries = load_entries(cfg.data, "train")
    ids = entry_tasks(entries)
    assert [task_names()[i] for i in ids] == [e["task"] for e in entries]
    mixed = replace(cfg, out=tmp_path / "t", task_temperature=3.0, epochs=None, max_steps=3, save_every_steps=0,
                    fisher_fractions=())
    assert train(mixed).steps == 3
    assert json.loads((tmp_path / "t" / "checkpoints" / "final" / "state.json").read_text())["total_steps"] == 3


def test_lora_plus_puts_the_b_matrices_on_their_own_rate(run):
    from dataclasses import replace

    from imax.model import apply_lora, load_base

    cfg, _ = run
    model, _ = load_base(cfg.out / "base")
    model = apply_lora(model, cfg.model.lora)
    optimizer, names = build_optimizer(model, replace(cfg, lr=1e-3, projector_lr=1e-4, lora_plus_ratio=16.0))
    by_id = dict(zip([id(p) for g in optimizer.param_groups for p in g["params"]], names, strict=True))
    peak_of = {by_id[id(p)]: g["peak_lr"] for g in optimizer.param_groups for p in g["params"]}
    assert {n for n, r in peak_of.items() if r == pytest.approx(16e-3)} == {n for n in names if ".lora_B." in n}
    assert {n for n, r in peak_of.items() if r == 1e-4} == {n for n in names if "multi_modal_projector" in n}
    assert all(r == 1e-3 for n, r in peak_of.items() if ".lora_A." in n) and any(".lora_A." in n for n in names)
