"""Each training step as one CUDA graph: captured once, then replayed with a single launch.

A QLoRA step on a GPU waits on the host (tutor.engine.training.speed): Python launches
thousands of small kernels a step while the GPU idles between them. Here the forward, the
loss and the backward, with the recompute of gradient checkpointing, are captured once into a
CUDA graph (`torch.cuda.graph`); every later step copies its batch into the graph's input
tensors and replays it. Gradient clipping, the optimizer and logging stay eager.

What capture needs, and how it is met:
- fixed shapes: packed rows are padded to max_length (`PackedRowsCollator(width=...)`); a
  batch of another shape (an epoch's last, say) takes the eager step;
- no host synchronisation inside: the document mask is built from the position ids on the
  GPU (transformers asks the host whether rows are packed), and the loss scores every
  position with trl's chunked log-prob kernel and masks after, where trl's eager path first
  gathers the labelled positions, a count only the host knows;
- the same dropout mask in a layer's forward and in its recompute: each checkpointed layer
  draws from two generator states seeded alike, one for the forward and one for the
  recompute, both registered with the graph. This is torch's own scheme for compiled graphs
  (torch/_functorch/partitioners.py, "CUDA Graph Safe RNG Functionalization").
- memory: one private pool that the capture fills as an eager step would, so the peak stays
  close to an eager step's; eager memory and cuBLAS's workspaces are handed back before
  capture (with the workspaces kept, the graph cost 65 MB over the eager peak on the 7B
  benchmark shape).

Anything capture cannot take falls back to the eager step, with one line in the run's log.
"""

from __future__ import annotations

from typing import Callable

import torch
from transformers import TrainerCallback

from tutor.engine.training.packing import IGNORE_INDEX

EAGER_STEPS = 2  # Triton kernels compile and tune on eager steps, outside any capture
INPUT_KEYS = {"input_ids", "labels", "position_ids"}


def document_mask(position_ids):
    """[batch, 1, seq, seq] booleans, True where a query may attend: earlier tokens of its own
    document. A document starts wherever the position does not follow the previous one, as in
    transformers' `find_packed_sequence_indices`, but without asking the host anything."""
    first = position_ids[:, :1] - 1
    starts = torch.diff(position_ids, prepend=first, dim=-1) != 1
    documents = starts.cumsum(-1)
    same = documents[:, :, None] == documents[:, None, :]
    length = position_ids.shape[-1]
    causal = torch.ones(length, length, dtype=torch.bool, device=position_ids.device).tril()
    return (same & causal)[:, None]


class TwinRngCheckpoint:
    """A decoder layer's checkpoint function (transformers' `_gradient_checkpointing_func`)
    whose forward and recompute draw random numbers from twin generator states.

    torch's checkpoint restores the generator state from the host, which a graph being
    captured cannot do; two states seeded alike and advanced alike give the recompute the
    forward's dropout mask on every replay instead."""

    def __init__(self, generator, seed: int) -> None:
        self.generator = generator
        self.forward_state = generator.clone_state().manual_seed(seed)
        self.recompute_state = generator.clone_state().manual_seed(seed)

    def __call__(self, function, *args):
        from torch.utils.checkpoint import checkpoint

        return checkpoint(self._drawing_from_twin(function), *args, use_reentrant=False, preserve_rng_state=False)

    def _drawing_from_twin(self, function):
        def run(*args):
            # The recompute runs inside the backward pass, while an autograd graph task is running.
            recompute = torch._C._current_graph_task_id() != -1
            previous = self.generator.graphsafe_get_state()
            self.generator.graphsafe_set_state(self.recompute_state if recompute else self.forward_state)
            try:
                return function(*args)
            finally:
                self.generator.graphsafe_set_state(previous)

        return run


def release_cublas_workspaces() -> None:
    """Free cuBLAS's cached workspaces: the capture's stream gets its own, which would otherwise
    sit beside the eager steps' for the whole run. torch does the same around its own graph
    captures (`clear_cublass_cache`, torch/_inductor/cudagraph_trees.py). On the H200 this took
    the Qwen2-1.5B shape's peak from 1.053x the notebook's to 1.011x
    (bench/results/train-speed-qwen2-1.5b-cublas-h200-2026-12-03.json)."""
    clear = getattr(torch._C, "_cuda_clearCublasWorkspaces", None)  # private; absent: keep them
    if clear is not None:
        torch.cuda.synchronize()
        clear()


def capture_cuda_graph(function: Callable, generator_states: list, device):
    """Run `function` once on a side stream (lazy initialisation and autotuning happen outside
    the capture), then capture it; returns the graph and the captured outputs."""
    release_cublas_workspaces()
    graph = torch.cuda.CUDAGraph()
    for state in generator_states:
        graph.register_generator_state(state)
    side = torch.cuda.Stream(device)
    side.wait_stream(torch.cuda.current_stream(device))
    with torch.cuda.stream(side):
        function()
    torch.cuda.current_stream(device).wait_stream(side)
    torch.cuda.empty_cache()
    with torch.cuda.graph(graph, stream=side, capture_error_mode="thread_local"):
        outputs = function()
    return graph, outputs


class GraphedSteps(TrainerCallback):
    """Stands in for `trainer.training_step`: eager for the first steps, then captured once and
    replayed; as the trainer's callback, frees the graph when training ends. `report` receives
    one line when capture succeeds or falls back; `capture` is `capture_cuda_graph` (a test
    passes a stand-in that runs on CPU)."""

    def __init__(self, trainer, report: Callable[[str], None] = lambda line: None,
                 capture: Callable = capture_cuda_graph) -> None:
        self.trainer = trainer
        self.report = report
        self.capture = capture
        self.eager_step = trainer.training_step
        self.original_log = trainer.log
        self.steps = 0
        self.failed = False
        self.graph = None
        self.pending_stats: list = []
        self.twins: dict = {}
        trainer.training_step = self.training_step
        trainer.log = self.log

    # ---- the step ------------------------------------------------------------------------

    def training_step(self, model, inputs, num_items_in_batch=None):
        self.steps += 1
        if self.failed or self.steps <= EAGER_STEPS or not self._graphable(model, inputs):
            return self.eager_step(model, inputs, num_items_in_batch)
        inputs = self.trainer._prepare_inputs(inputs)
        if self.graph is None:
            try:
                self._capture(model, inputs, num_items_in_batch)
            except torch.OutOfMemoryError:
                self.release()  # the batch-size search halves the batch and tries again
                raise
            except Exception as exc:  # noqa: BLE001 - any capture failure means eager steps, not a failed run
                self.release()
                self.failed = True
                first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
                self.report(f"step graph: not captured ({type(exc).__name__}: {first[:160]}); eager steps")
                return self.eager_step(model, inputs, num_items_in_batch)
            self.report(f"step graph: forward, loss and backward replay as one CUDA graph "
                        f"(batch {tuple(inputs['input_ids'].shape)}), from step {self.steps}")
        elif any(value.shape != self.static[key].shape for key, value in inputs.items()):
            return self.eager_step(model, inputs, num_items_in_batch)
        return self._replay(inputs, num_items_in_batch)

    def _graphable(self, model, inputs) -> bool:
        if not hasattr(model, "get_base_model"):
            return False
        config = model.get_base_model().config.get_text_config()
        return (set(inputs) == INPUT_KEYS and model.training
                and self.trainer.accelerator.num_processes == 1
                and self.trainer.args.gradient_accumulation_steps == 1
                and getattr(config, "final_logit_softcapping", None) is None
                and getattr(config, "logit_scale", None) in (None, 1.0))

    def _replay(self, inputs, num_items_in_batch):
        for name, tensor in inputs.items():
            self.static[name].copy_(tensor, non_blocking=True)
        self._count(num_items_in_batch)
        for param, grad in zip(self.params, self.grads):
            if param.grad is not None and param.grad.data_ptr() == grad.data_ptr():
                param.grad = grad.clone()  # accumulating: the replay overwrites the graph's own buffer
        self.graph.replay()
        for param, grad in zip(self.params, self.grads):
            if param.grad is None:
                param.grad = grad
            else:
                param.grad.add_(grad)
        self.pending_stats.append(self.stats.clone())
        self.trainer._total_train_tokens += self.static["position_ids"].size(1)  # as trl counts rows it is given
        return self.loss.clone()

    def _count(self, num_items_in_batch) -> None:
        """The loss divides by the labelled tokens of the batch, as trl's does."""
        if num_items_in_batch is None:
            self.num_items.copy_((self.static["labels"][:, 1:] != IGNORE_INDEX).sum().clamp(min=1))
        elif torch.is_tensor(num_items_in_batch):
            self.num_items.copy_(num_items_in_batch.reshape(()), non_blocking=True)
        else:
            self.num_items.fill_(num_items_in_batch)

    # ---- capture -------------------------------------------------------------------------

    def _capture(self, model, inputs, num_items_in_batch) -> None:
        device = inputs["input_ids"].device
        self.static = {key: value.clone() for key, value in inputs.items()}
        self.num_items = torch.ones((), dtype=torch.float32, device=device)
        self._count(num_items_in_batch)
        self.params = [param for param in model.parameters() if param.requires_grad]
        states = self._install_twins(model, device)
        causal = model.get_base_model()

        def step():
            loss, stats = self._loss(causal)
            # Gradients as outputs, allocated in the graph's pool, rather than into `.grad`,
            # which the trainer sets to None after every optimizer step.
            grads = torch.autograd.grad(loss, self.params)
            return loss.detach(), stats, list(grads)

        self.graph, (self.loss, self.stats, self.grads) = self.capture(step, states, device)

    def _loss(self, causal):
        """trl's loss (sum of the labelled tokens' negative log-probabilities over their count)
        and the counts behind its entropy and token-accuracy metrics."""
        from trl.kernels import ChunkedLogProbFunction
        from trl.trainer import utils as trl_utils

        ids, positions, labels = (self.static[key] for key in ("input_ids", "position_ids", "labels"))
        hidden = causal.base_model(input_ids=ids, attention_mask=document_mask(positions), position_ids=positions,
                                   use_cache=False).last_hidden_state
        hidden = hidden[:, :-1].reshape(-1, hidden.shape[-1])
        targets = labels[:, 1:].reshape(-1)
        mask = targets != IGNORE_INDEX
        head = causal.get_output_embeddings()
        log_probs, entropy, _, _, is_top1 = ChunkedLogProbFunction.apply(
            hidden, head.weight, head.bias, targets.clamp(min=0), 1.0,
            trl_utils._CHUNKED_LOGPROB_CHUNK_SIZE, None, 1.0, ("log_probs", "entropy", "is_top1"))
        loss = -log_probs.masked_fill(~mask, 0).sum() / self.num_items
        with torch.no_grad():
            stats = torch.stack([entropy.masked_fill(~mask, 0).sum(), (is_top1 & mask).sum().float(),
                                 mask.sum().float()])
        return loss, stats

    def _install_twins(self, model, device) -> list:
        """Twin generator states for every checkpointed decoder layer (CUDA only: CPU
        generators have no graph-safe states, and nothing is captured there)."""
        if device.type != "cuda":
            return []
        from transformers.modeling_layers import GradientCheckpointingLayer

        generator = torch.cuda.default_generators[device.index or 0]
        seeds = torch.Generator().manual_seed(self.trainer.args.seed)
        states = []
        for layer in model.modules():
            if isinstance(layer, GradientCheckpointingLayer) and layer.gradient_checkpointing:
                seed = int(torch.randint(0, 2**62, (1,), generator=seeds))
                twin = TwinRngCheckpoint(generator, seed)
                self.twins[layer] = layer._gradient_checkpointing_func
                layer._gradient_checkpointing_func = twin
                states += [twin.forward_state, twin.recompute_state]
        return states

    # ---- logging and the end -------------------------------------------------------------

    def log(self, logs, *args, **kwargs):
        """trl's entropy and token-accuracy metrics for the replayed steps, read once the
        trainer has synchronised for its own loss figure (reading them at each step would make
        the host wait for the graph before it can launch the optimizer)."""
        metrics = self.trainer._metrics["train"]
        for entropy, correct, valid in (stats.tolist() for stats in self.pending_stats):
            metrics["entropy"].append(entropy / valid if valid > 0 else 0.0)
            metrics["mean_token_accuracy"].append(correct / valid if valid > 0 else 0.0)
        if self.pending_stats:
            metrics["num_tokens"] = [self.trainer._total_train_tokens]
        self.pending_stats.clear()
        return self.original_log(logs, *args, **kwargs)

    def on_train_begin(self, args, state, control, **kwargs):
        """A restart (the batch-size search after running out of memory) captures anew at its
        own batch shape rather than leaving the old graph's memory held."""
        self.release()
        self.steps = 0

    def on_train_end(self, args, state, control, **kwargs):
        self.release()

    def release(self) -> None:
        """Free the graph and its pool and put the layers' checkpoint functions back."""
        for layer, function in self.twins.items():
            layer._gradient_checkpointing_func = function
        self.twins.clear()
        self.graph = None
        self.static, self.loss, self.stats, self.grads, self.params = {}, None, None, [], []
        if torch.cuda.is_available():
            torch.cuda.empty_cache()
