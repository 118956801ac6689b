"""Train a LLaVA-architecture VLM from scratch on the task suite (how the demo is made).

Examples are drawn on the fly from the train split by DataLoader workers (PIL rendering,
about 1 ms per example on one core); the loss is on answer tokens only. Checkpoints
hold weights, optimizer and step, so a run cut into several device calls resumes where it
stopped. Launched with torchrun, each process drives one GPU with its own data workers
(data-parallel; the batch size is per process). See docs/demo-model.md for the recipe, the
hardware and the wall time.
"""

from __future__ import annotations

import json
import math
import shutil
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file
from tokenizers import Tokenizer

from ..errors import ModelLoadError
from ..models.llava_build import SIZES, build_llava, preprocess_spec, save_model_dir
from ..models.tokenizer import train_tokenizer
from ..tasks.base import Split
from ..tasks.catalog import all_datasets
from .data import normalize_pixels, suite_texts, train_loader
from .forward import LlavaLoss, image_offset
from .ranks import Ranks

STOP_CHECK_EVERY = 20  # steps between checks of --max-minutes (a few seconds at most)


@dataclass(frozen=True)
class TrainConfig:
    out: str  # model folder written at the end (and at every checkpoint)
    checkpoint: str  # folder for resumable state (weights, optimizer, step)
    size: str = "demo"
    total_steps: int = 12000  # the LR schedule's length; a call may stop earlier
    batch_size: int = 256
    lr: float = 1e-3
    min_lr_ratio: float = 0.05
    warmup_steps: int = 300
    weight_decay: float = 0.05
    seed: int = 0
    workers: int = 14
    max_minutes: float | None = None  # stop (and checkpoint) after this wall time
    checkpoint_every: int = 1000
    eval_every: int = 1000
    eval_examples: int = 128
    tokenizer_examples: int = 3000  # per dataset, for training the tokenizer
    vocab_size: int = 1024
    # Sampling weight per dataset name; reading tasks learn slowest, so they get more.
    mixture: dict[str, float] = field(default_factory=dict)
    compile: bool = False  # torch.compile the loss: far fewer kernel launches per step
    # Start from this model folder's weights (same size and tokenizer) with a fresh optimizer
    # and schedule; ignored once the checkpoint folder holds a run.
    init_from: str | None = None


def lr_at(step: int, cfg: TrainConfig) -> float:
    if step < cfg.warmup_steps:
        return cfg.lr * (step + 1) / cfg.warmup_steps
    progress = min(1.0, (step - cfg.warmup_steps) / max(1, cfg.total_steps - cfg.warmup_steps))
    cosine = 0.5 * (1 + math.cos(math.pi * progress))
    return cfg.lr * (cfg.min_lr_ratio + (1 - cfg.min_lr_ratio) * cosine)


def train(cfg: TrainConfig, log=print) -> Path:  # noqa: ANN001
    ranks = Ranks.from_env()
    device = ranks.device()
    log = ranks.main_only(log)
    torch.backends.cuda.matmul.allow_tf32 = True
    ckpt = Path(cfg.checkpoint)
    ckpt.mkdir(parents=True, exist_ok=True)
    size = SIZES[cfg.size]
    spec = preprocess_spec(size)
    tok_file = ckpt / "tokenizer.json"
    fresh = not (ckpt / "weights.safetensors").is_file()
    if ranks.is_main and fresh and cfg.init_from and not tok_file.is_file():
        source_tokenizer = Path(cfg.init_from) / "tokenizer.json"
        if not source_tokenizer.is_file():
            raise ModelLoadError(f"--init-from {cfg.init_from}: no tokenizer.json there")
        shutil.copy(source_tokenizer, tok_file)
    if ranks.is_main and not tok_file.is_file():
        t0 = time.time()
        train_tokenizer(suite_texts(cfg.tokenizer_examples, cfg.seed), cfg.vocab_size).save(
            str(tok_file)
        )
        log(f"tokenizer trained in {time.time() - t0:.1f}s")
    ranks.barrier()
    tokenizer = Tokenizer.from_file(str(tok_file))
    model = build_llava(size, tokenizer, seed=cfg.seed).to(device)
    optimizer = torch.optim.AdamW(
        model.parameters(),
        lr=cfg.lr,
        betas=(0.9, 0.98),
        weight_decay=cfg.weight_decay,
        fused=device.type == "cuda",
    )
    if fresh and cfg.init_from:
        _init_weights(model, Path(cfg.init_from), log)
    step, optimizer_restored = _resume(model, optimizer, ckpt, device, log)
    # Resumed weights without optimizer state (moved to a fresh machine): Adam's moments
    # restart at zero and its first updates are as large as the LR, so ramp the LR up again.
    rewarm_from = None if optimizer_restored or step == 0 else step
    trained = ranks.wrap(LlavaLoss(model))
    if cfg.compile:
        trained = torch.compile(trained)
    seed = f"{cfg.seed}:{step}:{ranks.rank}"  # every process and every resume sees new examples
    loader = train_loader(
        str(tok_file),
        spec,
        cfg.mixture,
        seed,
        cfg.batch_size,
        cfg.workers,
        pin_memory=device.type == "cuda",
    )
    image_id = tokenizer.token_to_id(spec.image_token)
    start, last_log = time.time(), time.time()
    model.train()
    for batch in loader:
        # Every process must stop at the same step, or the others wait forever in all-reduce;
        # agreeing on it costs a collective and a host sync, so the clock is read every
        # STOP_CHECK_EVERY steps rather than on the hot path of each one.
        if step >= cfg.total_steps:
            break
        if step % STOP_CHECK_EVERY == 0 and ranks.any(_out_of_time(start, cfg)):
            break
        lr = lr_at(step, cfg) * _rewarm(step, rewarm_from, cfg)
        for group in optimizer.param_groups:
            group["lr"] = lr
        offset = image_offset(batch["input_ids"], image_id, spec.num_image_tokens)  # on the host
        batch = {k: v.to(device, non_blocking=True) for k, v in batch.items()}
        pixels = normalize_pixels(batch["pixels"], spec)
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=device.type == "cuda"):
            loss = trained(batch["input_ids"], pixels, batch["labels"], offset)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        step += 1
        if step % 100 == 0:
            rate = 100 / (time.time() - last_log)
            last_log = time.time()
            samples = rate * cfg.batch_size * ranks.world
            log(
                f"step {step} loss {loss.item():.4f} lr {lr:.2e} "
                f"{rate:.1f} steps/s {samples:.0f} samples/s"
            )
        if ranks.is_main and step % cfg.checkpoint_every == 0:
            _save(model, optimizer, step, ckpt, tokenizer, spec, cfg)
        if ranks.is_main and cfg.eval_every and step % cfg.eval_every == 0:
            quick_eval(model, tokenizer, spec, cfg.eval_examples, log)
            model.train()
    if ranks.is_main:
        _save(model, optimizer, step, ckpt, tokenizer, spec, cfg)
    log(f"stopped at step {step} after {(time.time() - start) / 60:.1f} min")
    ranks.close()
    return Path(cfg.out)


def _out_of_time(start: float, cfg: TrainConfig) -> bool:
    return cfg.max_minutes is not None and time.time() - start > cfg.max_minutes * 60


def _init_weights(model, source: Path, log) -> None:  # noqa: ANN001
    from transformers import LlavaForConditionalGeneration

    try:
        source_model = LlavaForConditionalGeneration.from_pretrained(source, dtype=torch.float32)
        model.load_state_dict(source_model.state_dict())
    except (OSError, ValueError, RuntimeError) as error:
        # A size mismatch lists every tensor under a heading line; name the first one only.
        lines = [line.strip() for line in str(error).splitlines() if line.strip()]
        detail = (lines[1] if len(lines) > 1 else lines[0]) if lines else type(error).__name__
        raise ModelLoadError(
            f"--init-from {source}: not a model of this size ({detail[:200]})"
        ) from None
    log(f"initialised from {source} (fresh optimizer and schedule)")


def _rewarm(step: int, start: int | None, cfg: TrainConfig) -> float:
    return 1.0 if start is None else min(1.0, (step - start + 1) / cfg.warmup_steps)


def _resume(model, optimizer, ckpt: Path, device: torch.device, log) -> tuple[int, bool]:  # noqa: ANN001
    """(step to continue from, whether the optimizer state was restored)."""
    state_file = ckpt / "state.json"
    if (ckpt / "weights.safetensors").is_file():
        model.load_state_dict(load_file(str(ckpt / "weights.safetensors"), device=str(device)))
        step = json.loads(state_file.read_text())["step"] if state_file.is_file() else 0
        if (ckpt / "optimizer.pt").is_file():
            optimizer.load_state_dict(torch.load(ckpt / "optimizer.pt", map_location=device))
            log(f"resumed weights and optimizer at step {step}")
            return step, True
        log(f"resumed weights at step {step} (fresh optimizer, LR warms up again)")
        return step, False
    return 0, False


def _save(model, optimizer, step: int, ckpt: Path, tokenizer, spec, cfg: TrainConfig) -> None:  # noqa: ANN001
    weights = {k: v.detach().float().cpu().contiguous() for k, v in model.state_dict().items()}
    save_file(weights, str(ckpt / "weights.safetensors.tmp"))
    Path(ckpt / "weights.safetensors.tmp").replace(ckpt / "weights.safetensors")
    torch.save(optimizer.state_dict(), ckpt / "optimizer.pt.tmp")
    Path(ckpt / "optimizer.pt.tmp").replace(ckpt / "optimizer.pt")
    (ckpt / "state.json").write_text(json.dumps({"step": step, "config": asdict(cfg)}, indent=2))
    model_cpu = build_llava(SIZES[cfg.size], tokenizer, seed=cfg.seed)
    model_cpu.load_state_dict(weights)
    save_model_dir(model_cpu, tokenizer, spec, cfg.out, dtype=torch.float16)
    provenance = {"step": step, "train_config": asdict(cfg), "torch": torch.__version__}
    (Path(cfg.out) / "training.json").write_text(json.dumps(provenance, indent=2) + "\n")


@torch.no_grad()
def quick_eval(model, tokenizer: Tokenizer, spec, examples: int, log) -> dict[str, float]:  # noqa: ANN001
    """Greedy score on the first `examples` calib examples of each dataset (progress check)."""
    from ..evaluation.evaluate import Evaluator
    from ..models.architectures import adapter_for
    from ..models.loading import LoadedVlm

    model.eval()
    device = next(model.parameters()).device.type
    vlm = LoadedVlm("training", model, adapter_for(model), tokenizer, spec, "in-training")
    evaluator = Evaluator(vlm, device=device, batch_size=128)
    scores = {}
    with torch.autocast(device_type=device, dtype=torch.bfloat16, enabled=device == "cuda"):
        for dataset in all_datasets():
            scores[dataset.name] = evaluator.evaluate(dataset, Split.CALIB, (), examples).score
    log("eval " + " ".join(f"{k}={v:.3f}" for k, v in scores.items()))
    return scores
