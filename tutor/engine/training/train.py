"""LoRA training with trl's SFTTrainer, as the QLoRA notebook does, reporting through events.

A TrainerCallback turns each logged step into a `progress` event, each evaluation on the
held-out samples into an `eval` event, and checks the cancel flag after every step: a cancel
stops after the current step, and the adapter trained so far is still saved. This module runs
in the job's child process only (it imports transformers).
"""

from __future__ import annotations

import gc
import math
import time
from pathlib import Path
from typing import Callable

from transformers import TrainerCallback

from tutor.engine.config import RunConfig
from tutor.engine.data import TEXT_COLUMN, data_shape
from tutor.engine.events import EventWriter
from tutor.engine.models import gpu_memory
from tutor.engine.training.speed import SpeedPlan
from tutor.storage import inject_fault, staged_folder

# batch_size = auto: on a GPU, auto_find_batch_size starts at 8 and halves on out-of-memory;
# on CPU, 4, where the notebook's T4 run ended up (50 samples x 5 epochs = 65 steps).
AUTO_BATCH_SIZE = {"cuda": 8, "cpu": 4}


def lora_config(config: RunConfig, targets: list[str]):
    from peft import LoraConfig

    return LoraConfig(
        r=config.lora_r, lora_alpha=config.lora_alpha, target_modules=targets,
        lora_dropout=config.lora_dropout, bias=config.lora_bias, task_type="CAUSAL_LM",
    )


def sft_config(config: RunConfig, output_dir: Path, device: str, dtype: str, plan: SpeedPlan,
               evaluate: bool = False, shape: str = "text"):
    """`evaluate`: measure the loss on the held-out samples at each epoch end (the callback
    asks for that) and every `config.eval_steps` steps. `shape`: the data's trl shape; a
    conversation counts its assistant turns only, prompt/completion rows their completion
    (trl's default for that shape), as the data report shows them."""
    from trl import SFTConfig

    cuda = device == "cuda"
    auto_batch = config.batch_size == "auto"
    batch_size = AUTO_BATCH_SIZE[device] if auto_batch else config.batch_size
    return SFTConfig(
        output_dir=str(output_dir),
        num_train_epochs=config.epochs,
        learning_rate=config.learning_rate,
        lr_scheduler_type=config.lr_scheduler,
        max_grad_norm=config.max_grad_norm,
        per_device_train_batch_size=batch_size,
        per_device_eval_batch_size=batch_size,
        eval_strategy=("steps" if config.eval_steps else "epoch") if evaluate else "no",
        eval_steps=config.eval_steps or None,
        prediction_loss_only=True,
        # Not across processes: the search restarts training only in the process that ran out
        # of memory, while the others would wait for it in their gradient all-reduce.
        auto_find_batch_size=auto_batch and cuda and config.gpus == 1,
        max_length=config.max_length,
        dataset_text_field=TEXT_COLUMN,
        assistant_only_loss=shape == "messages",
        packing=plan.packed,
        packing_strategy="bfd",
        gradient_checkpointing=config.gradient_checkpointing,
        # Non-reentrant checkpointing: same peak memory, and faster (docs/benchmarks.md, tutor+reentrant).
        gradient_checkpointing_kwargs={"use_reentrant": False},
        optim=plan.optim,
        bf16=plan.autocast and dtype == "bf16",
        fp16=plan.autocast and dtype == "fp16",
        use_cpu=not cuda,
        dataloader_pin_memory=cuda,
        seed=config.seed,
        data_seed=config.seed,
        logging_steps=1,
        save_strategy="no",
        report_to="none",
        disable_tqdm=True,
        include_num_input_tokens_seen="non_padding",
    )


def train_adapter(
    model, tokenizer, dataset, held_out, config: RunConfig, targets: list[str], run_dir: Path,
    device: str, dtype: str, events: EventWriter, should_stop: Callable[[], bool],
) -> dict:
    """Train (evaluating on `held_out` unless it is None), save the adapter into
    run_dir/adapter with what it trained on, return the `summary` event's fields."""
    from tutor.engine.sft_data import is_conversational, training_lengths

    held = f", {len(held_out)} held out for evaluation" if held_out is not None else ", no evaluation"
    events.emit("phase", phase="tokenizing",
                message=f"{len(dataset)} {data_shape(dataset)} samples{held}, max_length {config.max_length}")
    progress = ProgressCallback(events, should_stop, evaluate=held_out is not None)
    trainer = build_trainer(model, tokenizer, dataset, config, targets, run_dir / "checkpoints", device, dtype,
                            [progress], eval_dataset=held_out)
    if note := training_lengths(trainer.training_tokenizer, dataset, config.max_length).note(config.max_length):
        events.emit("warning", message=note)
    for note in trainer.speed_notes:
        events.emit("log", level="info", message=note)
    if step_graph := getattr(trainer, "step_graph", None):
        step_graph.report = lambda line: events.emit("log", level="info", message=line)
    trainable, total = trainer.model.get_nb_trainable_parameters()
    events.emit("log", level="info", message=f"LoRA on {', '.join(targets)}: {trainable:,} trainable of {total:,} parameters")
    output = trainer.train()
    if progress.evaluate and not progress.cancelled and progress.last_eval_step != output.global_step:
        trainer.evaluate()  # a run of fractional epochs ends between epoch ends
    events.emit("phase", phase="saving", message="saving the adapter")
    adapter_dir = run_dir / "adapter"
    shape = data_shape(dataset)
    save_adapter(trainer, trainer.processing_class, adapter_dir, shape, chat=is_conversational(dataset[0]))
    metrics = output.metrics
    memory = gpu_memory()
    summary = dict(
        global_step=output.global_step,
        recipe=config.recipe,
        data_shape=shape,
        train_loss=round(output.training_loss, 4),
        last_step_loss=progress.last_loss,
        **progress.eval_summary(),
        train_runtime=metrics.get("train_runtime"),
        samples_per_s=metrics.get("train_samples_per_second"),
        steps_per_s=metrics.get("train_steps_per_second"),
        tokens_per_s=progress.tokens_per_s(trainer.state),
        epoch=round(trainer.state.epoch or 0.0, 3),
        adapter_dir=str(adapter_dir),
        cancelled=progress.cancelled,
        peak_gpu_bytes=memory["max_allocated"] if memory else None,
    )
    events.emit("summary", **summary)
    return summary


def save_adapter(trainer, tokenizer, adapter_dir: Path, shape: str, chat: bool) -> None:
    """adapter/ appears complete or not at all, with the tokenizer (and chat template) trained
    with and a note of the data's `shape` and whether its rows were conversations (`chat`), so
    later answers are asked as training saw them (tutor.engine.generate). Under `accelerate
    launch` only the main process writes it; with FSDP every process first helps gather the
    sharded weights into one copy."""
    from tutor.engine.generate import record_training_data

    accelerator = trainer.accelerator
    state_dict = None
    if trainer.is_fsdp_enabled:  # peft's FSDP guide: a full state dict loads with from_pretrained
        accelerator.state.fsdp_plugin.set_state_dict_type("FULL_STATE_DICT")
        state_dict = accelerator.get_state_dict(trainer.model)
    if not accelerator.is_main_process:
        return
    with staged_folder(adapter_dir) as staging:
        accelerator.unwrap_model(trainer.model).save_pretrained(staging, state_dict=state_dict)
        tokenizer.save_pretrained(staging)
        record_training_data(staging, shape, chat)
        inject_fault("adapter", adapter_dir)


def build_trainer(model, tokenizer, dataset, config: RunConfig, targets: list[str], output_dir: Path,
                  device: str, dtype: str, callbacks: list, eval_dataset=None):
    """The SFTTrainer the lab uses (and the speed benchmark measures as 'the tutor', with its
    ablations applied to the trainer this returns: bench/ablations.py); `eval_dataset`: the
    held-out samples, measured at each epoch end (None: no evaluation).

    `speed = packed` applies tutor.engine.training.speed's settings: packed rows stay rows,
    each document masked from the others. `trainer.speed_notes` says what was applied;
    `trainer.training_tokenizer`, the tokenizer and chat template the data was prepared with.
    """
    from trl import SFTTrainer

    from tutor.engine.training.packing import PackedRowsCollator
    from tutor.engine.training.speed import apply_liger, avoid_cudnn_attention, plan_speed

    plan = plan_speed(config, device, dtype)
    training_tokenizer = with_chat_template(model, tokenizer, config.model, dataset)
    trainer = SFTTrainer(
        model=model,
        args=sft_config(config, output_dir, device, dtype, plan, evaluate=eval_dataset is not None,
                        shape=data_shape(dataset)),
        train_dataset=dataset,
        eval_dataset=eval_dataset,
        processing_class=tokenizer,
        peft_config=lora_config(config, targets),
        callbacks=callbacks,
    )
    notes = list(plan.notes)
    if plan.packed:
        # trl flattens packed batches into one row; keep rows (see tutor.engine.training.packing).
        width = config.max_length if plan.step_graph else None
        trainer.data_collator = PackedRowsCollator(tokenizer.pad_token_id, width=width)
        notes.append("packed rows: kept as rows, each document masked from the others"
                     + (f", padded to {width} tokens" if width else ""))
    if plan.packed and device == "cuda":
        notes.append(apply_liger(trainer.model.get_base_model()))
        if config.fsdp:  # the fused layers were never tried on FSDP's flattened, sharded weights
            notes.append("FSDP-QLoRA: bitsandbytes' own 4-bit layers, not the fused ones")
        elif not plan.autocast:
            from tutor.engine.training.fastlora import install

            notes.append(f"4-bit linear layers: {install(trainer.model)} run as one autograd function each")
        notes.append(avoid_cudnn_attention())
    if plan.step_graph:
        from tutor.engine.training.step_graph import GraphedSteps

        trainer.step_graph = GraphedSteps(trainer)
        trainer.add_callback(trainer.step_graph)
        notes.append("step graph: after two eager steps, forward, loss and backward replay as one CUDA graph")
    if plan.packed:
        trainer.add_callback(FrozenHeap())
        notes.append("garbage collector: the heap at the start of training frozen out of its reach")
    trainer.speed_notes = notes
    trainer.training_tokenizer = training_tokenizer
    return trainer


def with_chat_template(model, tokenizer, label: str, dataset):
    """The data report's TrainingTokenizer for `tokenizer`. For conversations its training
    chat template becomes the tokenizer's own, so trl renders and masks the turns exactly as
    the report coloured them; the model's embeddings grow when the tokens it added lie past
    their rows (tiny's 4,096 rows already hold the ids of the two ChatML tokens it gets)."""
    from tutor.engine.sft_data import (
        TrainingTokenizer, is_conversational, require_generation_markers, with_training_template,
    )

    first = dataset[0]
    if not is_conversational(first):
        return TrainingTokenizer(tokenizer, tokenizer.chat_template or "", label, "no chat template used")
    trained = with_training_template(tokenizer, label)
    if "messages" in first:  # before trl meets a template it cannot patch
        require_generation_markers(trained)
    tokenizer.chat_template = trained.chat_template
    if len(tokenizer) > model.get_input_embeddings().num_embeddings:
        model.resize_token_embeddings(len(tokenizer))
    return trained


class FrozenHeap(TrainerCallback):
    """Objects alive when training starts (the model, the data) are moved out of the garbage
    collector's reach, so its full collections no longer walk them; released at the end."""

    def on_train_begin(self, args, state, control, **kwargs):
        gc.collect()
        gc.freeze()

    def on_train_end(self, args, state, control, **kwargs):
        gc.unfreeze()


class ProgressCallback(TrainerCallback):
    """Each logged step -> a `progress` event, each evaluation -> an `eval` event; a set
    cancel flag -> stop after this step."""

    def __init__(self, events: EventWriter, should_stop: Callable[[], bool], evaluate: bool = False) -> None:
        self.events = events
        self.should_stop = should_stop
        self.evaluate = evaluate
        self.cancelled = False
        self.started = 0.0
        self.last_step_at = 0.0
        self.last_loss: float | None = None
        self.last_eval: dict | None = None
        self.best_eval: dict | None = None

    @property
    def last_eval_step(self) -> int | None:
        return self.last_eval["step"] if self.last_eval else None

    def on_epoch_end(self, args, state, control, **kwargs):
        # With eval_steps set, the strategy is "steps"; every epoch end is measured as well.
        if self.evaluate and self.last_eval_step != state.global_step:
            control.should_evaluate = True
        return control

    def on_evaluate(self, args, state, control, metrics=None, **kwargs):
        loss = (metrics or {}).get("eval_loss")
        if loss is None:
            return
        best = self.best_eval is None or loss < self.best_eval["eval_loss"]
        self.last_eval = dict(
            step=state.global_step, total_steps=state.max_steps, epoch=round(state.epoch or 0.0, 3),
            eval_loss=round(loss, 4), perplexity=round(math.exp(loss), 2), best=best,
        )
        if best:
            self.best_eval = self.last_eval
        self.events.emit("eval", **self.last_eval)

    def eval_summary(self) -> dict:
        """The summary's held-out figures: the last evaluation and the best one."""
        last, best = self.last_eval or {}, self.best_eval or {}
        return dict(
            eval_loss=last.get("eval_loss"), eval_perplexity=last.get("perplexity"),
            best_eval_loss=best.get("eval_loss"), best_eval_step=best.get("step"), best_eval_epoch=best.get("epoch"),
        )

    def on_train_begin(self, args, state, control, **kwargs):
        self.started = self.last_step_at = time.monotonic()
        self.events.emit("phase", phase="training", message=f"{state.max_steps} steps")

    def on_step_end(self, args, state, control, **kwargs):
        if self.should_stop() and not self.cancelled:
            self.cancelled = True
            control.should_training_stop = True
            self.events.emit("warning", message=f"cancelled at step {state.global_step}: saving the adapter trained so far")
        return control

    def on_log(self, args, state, control, logs=None, **kwargs):
        logs = logs or {}
        if "loss" not in logs:
            return
        self.last_loss = round(logs["loss"], 4)
        now = time.monotonic()
        elapsed = now - self.started
        remaining = max(state.max_steps - state.global_step, 0)
        self.events.emit(
            "progress",
            step=state.global_step,
            total_steps=state.max_steps,
            epoch=round(state.epoch or 0.0, 3),
            loss=logs["loss"],
            learning_rate=logs.get("learning_rate"),
            grad_norm=logs.get("grad_norm"),
            tokens_per_s=self.tokens_per_s(state),
            step_time_s=round(now - self.last_step_at, 3),
            eta_s=round(elapsed / state.global_step * remaining, 1) if state.global_step else None,
            gpu=gpu_memory(),
        )
        self.last_step_at = now

    def tokens_per_s(self, state) -> float | None:
        elapsed = time.monotonic() - self.started
        seen = getattr(state, "num_input_tokens_seen", 0) or 0
        return round(seen / elapsed, 1) if seen and elapsed > 0 else None
