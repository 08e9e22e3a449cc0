"""PyTorch eager training baseline for bench/train: the same checkpoint, the same
batch and the same thread count, trained with torch.optim.AdamW.

    /usr/bin/python3 bench/train_reference.py --model DIR [--threads 2]
        [--batch 8] [--seq 256] [--steps 4] [--warmup 2] [--seed 0]

The model is tests/reference/llama_reference.py's forward math (written from the
Hugging Face modeling code, not from flywheel's C++) over the checkpoint's
tensors loaded as leaf parameters requiring grad (tied embeddings stay one
tensor). One step, as in flywheel's trainer:
  random tokens [B, T+1] -> logits [B, T, V] -> mean cross-entropy
  -> backward -> clip_grad_norm_(1.0) -> AdamW.step (lr 1e-3, betas 0.9/0.95,
  eps 1e-8, weight decay 0.1 on matrices only, not norms or embeddings)
  -> zero_grad(set_to_none=True)
--warmup steps are run first and not timed; tokens/s = B * T * steps / seconds
of the timed steps. Prints one JSON object on stdout; progress on stderr.
"""

import argparse
import json
import os
import platform
import sys
import time

import torch
import torch.nn.functional as F

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tests", "reference"))
import llama_reference as ref  # noqa: E402


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", required=True)
    ap.add_argument("--threads", type=int, default=0)
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--seq", type=int, default=256)
    ap.add_argument("--steps", type=int, default=4)
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args()

    if a.threads > 0:
        torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed)
    params, config = ref.load_checkpoint(a.model)
    params = {k: v.detach().clone().requires_grad_(True) for k, v in params.items()}
    n_params = sum(p.numel() for p in params.values())

    decay = [p for k, p in params.items() if p.dim() >= 2 and "embed_tokens" not in k]
    no_decay = [p for k, p in params.items() if not (p.dim() >= 2 and "embed_tokens" not in k)]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": 0.1}, {"params": no_decay, "weight_decay": 0.0}],
                            lr=1e-3, betas=(0.9, 0.95), eps=1e-8)
    all_params = list(params.values())
    B, T, V = a.batch, a.seq, config.vocab_size

    phases = [0.0, 0.0, 0.0]  # forward+loss, backward, clip+AdamW

    def step():
        t0 = time.perf_counter()
        tokens = torch.randint(0, V, (B, T + 1), dtype=torch.int64)
        inputs, targets = tokens[:, :T], tokens[:, 1:]
        h = ref.final_hidden(params, config, inputs)
        logits = ref.linear(h, ref.lm_head_weight(params, config))
        loss = F.cross_entropy(logits.reshape(B * T, V), targets.reshape(B * T))
        t1 = time.perf_counter()
        loss.backward()
        t2 = time.perf_counter()
        torch.nn.utils.clip_grad_norm_(all_params, 1.0)
        opt.step()
        opt.zero_grad(set_to_none=True)
        t3 = time.perf_counter()
        phases[0] += t1 - t0
        phases[1] += t2 - t1
        phases[2] += t3 - t2
        return float(loss)

    for i in range(a.warmup):
        loss = step()
        print(f"train_reference: warm-up step {i} loss {loss:.4f}", file=sys.stderr)
    phases[:] = [0.0, 0.0, 0.0]
    start = time.perf_counter()
    for _ in range(a.steps):
        loss = step()
    seconds = time.perf_counter() - start
    report = {
        "torch_version": torch.__version__,
        "python": platform.python_version(),
        "threads": torch.get_num_threads(),
        "parameters": n_params,
        "batch": B,
        "seq": T,
        "steps": a.steps,
        "warmup": a.warmup,
        "seconds": seconds,
        "seconds_per_step": seconds / max(a.steps, 1),
        "tokens_per_s": B * T * a.steps / seconds,
        "phase_seconds_per_step": {"forward_loss": phases[0] / max(a.steps, 1),
                                   "backward": phases[1] / max(a.steps, 1),
                                   "clip_adamw": phases[2] / max(a.steps, 1)},
        "last_loss": loss,
    }
    print(json.dumps(report))


if __name__ == "__main__":
    main()
