"""The step graph (tutor.engine.training.step_graph): its mask, its loss and gradients against
the eager trainer's, its fallbacks, and the twin generator states under checkpointing. CUDA
graphs need a GPU, so on CPU a stand-in 'captures' by running the step and 'replays' by
running it again into the captured tensors; on a GPU the real capture runs too."""

from __future__ import annotations

import pytest
import torch

from tutor.engine.training.step_graph import EAGER_STEPS, GraphedSteps, TwinRngCheckpoint, document_mask

CUDA = torch.cuda.is_available()


def tiny_model(seed: int = 0):
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(seed)
    config = LlamaConfig(vocab_size=4096, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                         num_attention_heads=4, num_key_value_heads=2, attn_implementation="sdpa")
    return LlamaForCausalLM(config)


def test_the_document_mask_is_the_one_transformers_builds_from_packed_positions():
    model = tiny_model().eval()
    positions = torch.tensor([[0, 1, 2, 0, 1, 0, 1, 2, 3, 0], [0, 1, 2, 3, 4, 5, 0, 1, 0, 1]])
    ids = torch.randint(0, 4096, positions.shape, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        theirs = model(input_ids=ids, position_ids=positions, use_cache=False).logits  # as in training
        ours = model(input_ids=ids, position_ids=positions, attention_mask=document_mask(positions)).logits
        unmasked = model(input_ids=ids, position_ids=positions, attention_mask=torch.ones_like(ids)).logits
    torch.testing.assert_close(ours, theirs)
    assert not torch.allclose(unmasked, theirs)  # the documents really are kept apart
    mask = document_mask(positions)[0, 0]
    assert mask[4].tolist() == [False, False, False, True, True] + [False] * 5  # token 4 sees its document's 2


class ReplayByRerun:
    """CPU stand-in for a CUDA graph: replay runs the captured step again and writes its
    results into the tensors the capture returned, as a replay writes into static memory."""

    def __init__(self, step):
        self.step = step
        self.replays = 0

    def replay(self):
        self.replays += 1
        loss, stats, grads = self.step()
        for static, fresh in zip([self.outputs[0], self.outputs[1], *self.outputs[2]], [loss, stats, *grads]):
            static.copy_(fresh)


def rerun_capture(step, generator_states, device):
    graph = ReplayByRerun(step)
    step()  # the warm-up run, as the real capture does
    graph.outputs = step()
    return graph, graph.outputs


def packed_trainer(tmp_path, with_graph: bool, lines: list[str], max_steps: int = 7):
    from datasets import Dataset

    from tutor.engine.config import RunConfig
    from tutor.engine.tiny import tiny_tokenizer
    from tutor.engine.training.train import build_trainer

    tokenizer = tiny_tokenizer()
    words = "the cat sat on the mat and the dog ran to the park by the old tree".split()
    texts = [" ".join(words[i % 7: i % 7 + 3 + i % 9]) for i in range(60)]
    config = RunConfig(speed="packed", batch_size=3, max_length=24, lora_dropout=0.0, seed=0, learning_rate=5e-3)
    trainer = build_trainer(tiny_model(), tokenizer, Dataset.from_dict({"text": texts}), config,
                            ["q_proj", "v_proj"], tmp_path, "cpu", "fp32", [])
    trainer.args.max_steps = max_steps
    trainer.data_collator.width = config.max_length  # as on a GPU, where the graph needs one shape
    if with_graph:
        trainer.step_graph = GraphedSteps(trainer, report=lines.append, capture=rerun_capture)
        trainer.add_callback(trainer.step_graph)
    losses = []
    step = trainer.training_step

    def recording(*args, **kwargs):
        loss = step(*args, **kwargs)
        losses.append(float(loss))
        return loss

    trainer.training_step = recording
    return trainer, losses


def test_replayed_steps_train_exactly_as_the_eager_steps_do(tmp_path):
    eager, eager_losses = packed_trainer(tmp_path / "eager", False, [])
    eager.train()
    lines: list[str] = []
    graphed, graphed_losses = packed_trainer(tmp_path / "graph", True, lines)
    graphs = graphed.step_graph
    captured = []
    graphs.release = lambda: captured.append(graphs.graph) if graphs.graph else None  # keep the stand-in to count its replays
    graphed.train()
    assert len(graphed_losses) == len(eager_losses) == 7
    assert graphed_losses == pytest.approx(eager_losses, rel=1e-4)
    assert eager_losses[-1] < eager_losses[0]
    assert lines == [f"step graph: forward, loss and backward replay as one CUDA graph (batch (3, 24)), "
                     f"from step {EAGER_STEPS + 1}"]
    assert captured[0].replays == 7 - EAGER_STEPS
    for (name, ours), theirs in zip(graphed.model.named_parameters(), eager.model.parameters()):
        if ours.requires_grad:
            torch.testing.assert_close(ours, theirs, rtol=1e-4, atol=1e-6, msg=name)
    ours, theirs = ([entry for entry in trainer.state.log_history if "loss" in entry] for trainer in (graphed, eager))
    for key in ("entropy", "mean_token_accuracy"):  # trl's metrics, from the graph's counts
        assert [entry[key] for entry in ours] == pytest.approx([entry[key] for entry in theirs], rel=1e-4, abs=1e-6)
    assert graphed._total_train_tokens == eager._total_train_tokens


def test_a_failed_capture_says_why_in_one_line_and_training_goes_on_eagerly(tmp_path):
    lines: list[str] = []
    trainer, losses = packed_trainer(tmp_path, True, lines, max_steps=EAGER_STEPS + 2)
    graphs = trainer.step_graph
    eager_calls = []
    eager = graphs.eager_step
    graphs.eager_step = lambda *args: eager_calls.append(args[1]["input_ids"].shape) or eager(*args)

    def failing(step, states, device):
        raise RuntimeError("operation not permitted when stream is capturing\nmore detail")

    graphs.capture = failing
    trainer.train()
    assert lines == ["step graph: not captured (RuntimeError: operation not permitted when stream is capturing); "
                     "eager steps"]
    assert len(eager_calls) == EAGER_STEPS + 2 and len(losses) == EAGER_STEPS + 2
    assert graphs.failed and graphs.graph is None


def test_capture_first_frees_cublas_workspaces_the_side_stream_would_double(monkeypatch):
    """Measured on the H200: kept, they cost 68.7 MB of peak on Qwen2-1.5B, 1.053x the notebook's."""
    from tutor.engine.training import step_graph

    calls = []

    class Graph:
        def __init__(self):
            calls.append("graph")
            raise RuntimeError("stop here")

    monkeypatch.setattr(torch.cuda, "synchronize", lambda *args: calls.append("sync"))
    monkeypatch.setattr(torch._C, "_cuda_clearCublasWorkspaces", lambda: calls.append("clear"), raising=False)
    monkeypatch.setattr(torch.cuda, "CUDAGraph", Graph)
    with pytest.raises(RuntimeError, match="stop here"):
        step_graph.capture_cuda_graph(lambda: None, [], "cuda")
    assert calls == ["sync", "clear", "graph"]


def test_graphs_are_planned_for_one_gpu_in_bf16_without_autocast_only():
    from tutor.engine.config import RunConfig
    from tutor.engine.training.speed import plan_speed

    assert plan_speed(RunConfig(), "cuda", "bf16").step_graph
    assert not plan_speed(RunConfig(), "cpu", "fp32").step_graph
    assert not plan_speed(RunConfig(speed="padded"), "cuda", "bf16").step_graph
    assert not plan_speed(RunConfig(), "cuda", "fp16").step_graph  # fp16 autocasts
    assert not plan_speed(RunConfig(gpus=2), "cuda", "bf16").step_graph


class RecordingGenerator:
    """Stands in for a CUDA generator: records which state each draw would come from."""

    def __init__(self):
        self.current = "default"
        self.seeds = []

    def clone_state(self):
        generator = self

        class State:
            def manual_seed(self, seed):
                generator.seeds.append(seed)
                self.name = f"state{len(generator.seeds)}"
                return self

        return State()

    def graphsafe_get_state(self):
        return self.current

    def graphsafe_set_state(self, state):
        self.current = state


def test_a_layers_recompute_draws_from_the_twin_of_its_forward_state():
    generator = RecordingGenerator()
    twin = TwinRngCheckpoint(generator, seed=7)
    drawn_from = []

    def layer(x):
        drawn_from.append(generator.current)
        return x * x  # saves x, so the backward recomputes

    x = torch.ones(3, requires_grad=True)
    y = twin(layer, x)
    assert drawn_from == [twin.forward_state] and generator.current == "default"
    y.sum().backward()
    assert drawn_from == [twin.forward_state, twin.recompute_state]
    assert generator.current == "default" and generator.seeds == [7, 7]
    assert x.grad.tolist() == [2.0, 2.0, 2.0]


@pytest.mark.skipif(not CUDA, reason="CUDA graphs need a GPU")
def test_on_a_gpu_a_replayed_recompute_draws_the_forwards_random_numbers():
    """y = x * sum(r) with r drawn in the forward; dy/dx = sum(r') with r' drawn in the
    recompute. Captured and replayed, the two agree, and each replay draws anew."""
    from tutor.engine.training.step_graph import capture_cuda_graph

    generator = torch.cuda.default_generators[torch.cuda.current_device()]
    twin = TwinRngCheckpoint(generator, seed=3)
    x = torch.ones(2, device="cuda", requires_grad=True)

    def layer(value):
        return value * torch.rand(8, device="cuda").sum()

    def step():
        y = twin(layer, x)
        (grad,) = torch.autograd.grad(y.sum(), x)
        return y.detach(), grad

    graph, (y, grad) = capture_cuda_graph(step, [twin.forward_state, twin.recompute_state], x.device)
    seen = []
    for _ in range(3):
        graph.replay()
        torch.testing.assert_close(y[0], grad[0])
        seen.append(float(y[0]))
    assert len(set(seen)) == 3


@pytest.mark.skipif(not CUDA, reason="CUDA graphs need a GPU")
def test_on_a_gpu_the_replayed_gradients_are_the_eager_ones_for_each_batch():
    from types import SimpleNamespace

    from peft import LoraConfig, get_peft_model

    model = tiny_model().to("cuda")
    model.gradient_checkpointing_enable({"use_reentrant": False})
    model = get_peft_model(model, LoraConfig(r=8, lora_alpha=16, lora_dropout=0.0, target_modules=["q_proj", "v_proj"]))
    model.train()
    trainer = SimpleNamespace(args=SimpleNamespace(seed=0), training_step=None, log=None)
    graphs = GraphedSteps(trainer)
    positions = torch.tensor([[0, 1, 2, 3, 0, 1, 2, 3, 4, 5, 6, 0, 1, 2, 3, 4]] * 2, device="cuda")

    def batch(seed):
        ids = torch.randint(0, 4096, positions.shape, device="cuda", generator=torch.Generator("cuda").manual_seed(seed))
        labels = ids.clone()
        labels[:, :3] = -100
        return {"input_ids": ids, "labels": labels, "position_ids": positions}

    graphs._capture(model, batch(0), None)
    for seed in (1, 2):
        for name, tensor in batch(seed).items():
            graphs.static[name].copy_(tensor)
        graphs._count(None)
        graphs.graph.replay()
        loss, _ = graphs._loss(model.get_base_model())  # the same step, eagerly, on the same batch
        eager = torch.autograd.grad(loss, graphs.params)
        torch.testing.assert_close(graphs.loss, loss.detach())
        for ours, theirs in zip(graphs.grads, eager):
            torch.testing.assert_close(ours, theirs)
    graphs.release()
    assert graphs.graph is None
