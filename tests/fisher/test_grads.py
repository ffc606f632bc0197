import pytest
import torch

from imax.fisher.grads import gradient_gram, per_sample_grads, select_params

from .conftest import random_batch, tiny_llava


def test_default_selection_is_lora_plus_projector(model):
    names = list(select_params(model))
    assert names and all("lora_" in n or "multi_modal_projector.modules_to_save" in n for n in names)
    assert not any("vision_tower" in n for n in names)
    assert list(select_params(model, r"lm_head")) == ["base_model.model.lm_head.weight"]
    with pytest.raises(ValueError, match="no parameters"):
        select_params(model, r"no-such-parameter")


def test_vmap_gradients_equal_loop_gradients(model):
    batch = random_batch(6, seed=1)
    names = list(select_params(model))
    loop = per_sample_grads(model, batch, names, "loop")
    vm = per_sample_grads(model, batch, names, "vmap", chunk_size=4)
    assert loop.shape == (6, sum(p.numel() for p in select_params(model).values()))
    assert loop.abs().sum(1).min() > 0  # every sample has a non-trivial gradient
    torch.testing.assert_close(vm, loop, rtol=1e-4, atol=1e-5 * float(loop.abs().max()))


def test_gram_route_matches_dense_eigendecomposition(model):
    batches = [random_batch(6, seed=2), random_batch(6, seed=3)]
    names = list(select_params(model))
    jac = torch.cat([per_sample_grads(model, b, names, "vmap") for b in batches]).double()
    n, p = jac.shape
    assert p < 3000  # small enough for a dense P × P eigh
    dense = torch.linalg.eigvalsh(jac.T @ jac / n).flip(0)[:n]
    from imax.fisher.spectrum import fisher_eigenvalues

    gram = gradient_gram(model, batches)
    assert gram.method == "vmap" and gram.kernel.shape == (n, n) and gram.n_params == p
    eig = fisher_eigenvalues(gram.kernel)
    top = dense > dense[0] * 1e-8
    torch.testing.assert_close(eig[top], dense[top], rtol=1e-5, atol=0)


def test_parameter_groups_give_the_same_kernel(model):
    batches = [random_batch(5, seed=4)]
    whole = gradient_gram(model, batches)
    # a ~10 KB budget for the 5 × P block forces a few parameter groups (one pass over the batch each)
    split = gradient_gram(model, batches, max_jacobian_mb=0.01)
    assert whole.param_groups == 1 and split.param_groups >= 2
    torch.testing.assert_close(split.kernel, whole.kernel, rtol=1e-9, atol=1e-9)


def test_auto_falls_back_to_the_loop_when_vmap_cannot_run(model):
    batch = random_batch(3, seed=5)
    # left padding breaks the vmap route's assumption; auto must switch to the loop, not fail
    batch["attention_mask"][0] = torch.tensor([0] + [1] * (batch["input_ids"].shape[1] - 1))
    res = gradient_gram(model, [batch], method="auto")
    assert res.method == "loop"
    with pytest.raises(ValueError, match="right-padded"):
        gradient_gram(model, [batch], method="vmap")


def test_sample_without_answer_tokens_is_an_error(model):
    batch = random_batch(2, seed=6)
    batch["labels"][1] = -100
    with pytest.raises(ValueError, match="no answer tokens"):
        per_sample_grads(model, batch, list(select_params(model)), "loop")


def test_vmap_matches_loop_for_full_strategy_and_several_feature_layers():
    # "full" keeps CLS (5 image tokens at 32 px / patch 16); two feature layers are concatenated
    model = tiny_llava(seed=1, strategy="full", feature_layer=[-2, -1])
    batch = random_batch(3, seed=7, n_image=5)
    names = list(select_params(model))
    loop = per_sample_grads(model, batch, names, "loop")
    torch.testing.assert_close(
        per_sample_grads(model, batch, names, "vmap"), loop, rtol=1e-4, atol=1e-5 * float(loop.abs().max())
    )


def test_fused_lora_layers_give_the_same_per_sample_gradients(model):
    # imax.model.apply_lora re-classes PEFT's LoRA linears (imax.model.fused_lora): vmap must still
    # transform them, and both routes must give the stock layers' gradients.
    import copy

    from imax.model.fused_lora import use_fused_lora

    fused = copy.deepcopy(model)
    assert use_fused_lora(fused) > 0
    batch = random_batch(5, seed=4)
    names = list(select_params(model))
    stock = per_sample_grads(model, batch, names, "loop")
    for method in ("loop", "vmap"):
        got = per_sample_grads(fused, batch, names, method)
        torch.testing.assert_close(got, stock, rtol=1e-4, atol=1e-5 * float(stock.abs().max()))


def test_randomized_lora_b_gives_lora_a_gradients(model):
    # imax_llava draws B at random (randomize_lora_b); with PEFT's B = 0 every LoRA-A gradient is 0
    import copy

    from imax.model.lora import randomize_lora_b

    batch = random_batch(2, seed=8)
    a_names = [n for n in select_params(model) if "lora_A" in n]
    assert a_names and per_sample_grads(model, batch, a_names, "loop").abs().sum(1).min() > 0
    zero_b = copy.deepcopy(model)
    for name, param in zero_b.named_parameters():
        if "lora_B" in name:
            param.data.zero_()
    assert per_sample_grads(zero_b, batch, a_names, "loop").abs().max() == 0
    assert randomize_lora_b(zero_b, 0) == len(a_names)
    torch.testing.assert_close(per_sample_grads(zero_b, batch, a_names, "loop"),
                               per_sample_grads(model, batch, a_names, "loop"))  # fmt: skip
