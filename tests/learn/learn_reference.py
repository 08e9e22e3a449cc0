"""Independent PyTorch reference for the learn objectives (DPO, KTO, policy
gradient, logit distillation): the loss and the policy's gradients on one
fixed batch, written from the papers and TRL's formulas, with the model
forward of tests/reference/llama_reference.py (not flywheel's C++).

    /usr/bin/python3 learn_reference.py BATCH.json
    /usr/bin/python3 learn_reference.py --probability CHECKPOINT_DIR PROMPTS.json
        (the show head's P(accept) for each prompt of a JSON list of id lists)

BATCH.json (written by tests/learn/reference_test.cpp) holds the objective,
its hyper-parameters, the checkpoint directories, the token ids of every row
(prompt and completion separately; the completion ends with <|endoftext|>),
flywheel's loss and the path of flywheel's gradients (safetensors, Hugging
Face names). Prints one JSON line:
    {"loss": ..., "loss_diff": ..., "grad_max_diff": ..., "grad_max_abs": ..., "tensors": N}
and exits 1 when a gradient tensor is missing or has another shape.
"""

import json
import os
import sys

import torch
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "reference"))
from llama_reference import final_hidden, lm_head_weight, load_checkpoint  # noqa: E402
from safetensors_io import read_safetensors  # noqa: E402


def logits_of(params, config, ids):
    """Logits [T, V] of one unpadded sequence, differentiable w.r.t. params."""
    h = final_hidden(params, config, torch.tensor(ids, dtype=torch.int64))[0]
    return h @ lm_head_weight(params, config).t()


def completion_token_logprobs(params, config, prompt, completion):
    """log p(completion[j] | prompt, completion[:j]) for each completion token: [len(completion)]."""
    ids = list(prompt) + list(completion)
    logits = logits_of(params, config, ids[:-1])
    logp = torch.log_softmax(logits, dim=-1)
    # token ids[t] is predicted at position t - 1
    positions = torch.arange(len(prompt) - 1, len(ids) - 1)
    targets = torch.tensor(ids[len(prompt):], dtype=torch.int64)
    return logp[positions, targets]


def sequence_logprob(params, config, prompt, completion):
    return completion_token_logprobs(params, config, prompt, completion).sum()


def dpo(batch, policy, reference, config):
    """Rafailov et al. 2023, sigmoid loss with conservative label smoothing (TRL's dpo_loss)."""
    beta, ls = batch["beta"], batch["label_smoothing"]
    losses = []
    for row in batch["rows"]:
        pc = sequence_logprob(policy, config, row["prompt"], row["chosen"])
        pr = sequence_logprob(policy, config, row["prompt"], row["rejected"])
        with torch.no_grad():
            rc = sequence_logprob(reference, config, row["prompt"], row["chosen"])
            rr = sequence_logprob(reference, config, row["prompt"], row["rejected"])
        logits = (pc - pr) - (rc - rr)
        losses.append(-F.logsigmoid(beta * logits) * (1 - ls) - F.logsigmoid(-beta * logits) * ls)
    return torch.stack(losses).mean()


def kto(batch, policy, reference, config):
    """Ethayarajh et al. 2024 as TRL's KTOTrainer computes it: the KL term from
    mismatched pairs (each prompt with the previous row's completion), averaged,
    clamped at 0 and detached; desirable and undesirable losses concatenated and
    averaged."""
    beta, lam_d, lam_u = batch["beta"], batch["lambda_d"], batch["lambda_u"]
    rows = batch["rows"]
    n = len(rows)
    with torch.no_grad():
        kl_terms = []
        for i in range(n):
            prompt, completion = rows[i]["prompt"], rows[i - 1]["completion"]  # rows[-1]: cyclic shift
            if "mismatched" in rows[i]:  # the pair as tokenized whole (ids at the seam may differ)
                prompt, completion = rows[i]["mismatched"]["prompt"], rows[i]["mismatched"]["completion"]
            kl_terms.append(sequence_logprob(policy, config, prompt, completion)
                            - sequence_logprob(reference, config, prompt, completion))
        kl = torch.stack(kl_terms).mean().clamp(min=0)
    chosen, rejected = [], []
    for row in rows:
        with torch.no_grad():
            ref = sequence_logprob(reference, config, row["prompt"], row["completion"])
        logratio = sequence_logprob(policy, config, row["prompt"], row["completion"]) - ref
        (chosen if row["label"] else rejected).append(logratio)
    parts = []
    if chosen:
        parts.append(lam_d * (1 - torch.sigmoid(beta * (torch.stack(chosen) - kl))))
    if rejected:
        parts.append(lam_u * (1 - torch.sigmoid(beta * (kl - torch.stack(rejected)))))
    return torch.cat(parts).mean()


def advantages(rewards, groups):
    """GRPO (Shao et al. 2024): (r - group mean) / (group std + 1e-4), std with
    Bessel's correction as torch.std; a row alone in its group: r minus the mean
    reward of the earlier lone rows (0 for the first)."""
    out = []
    lone = []
    for i, (r, g) in enumerate(zip(rewards, groups)):
        members = torch.tensor([rewards[j] for j in range(len(rewards)) if groups[j] == g], dtype=torch.float64)
        if len(members) >= 2:
            out.append(float((r - members.mean()) / (members.std() + 1e-4)))
        else:
            out.append(r - (sum(lone) / len(lone) if lone else 0.0))
            lone.append(r)
    return out


def policy_gradient(batch, policy, reference, config):
    """REINFORCE with the k3 KL estimator (Schulman 2020) per completion token."""
    coef = batch["kl_coef"]
    rows = batch["rows"]
    adv = advantages([r["reward"] for r in rows], [r["group"] for r in rows])
    losses = []
    for row, a in zip(rows, adv):
        pol = completion_token_logprobs(policy, config, row["prompt"], row["completion"])
        with torch.no_grad():
            ref = completion_token_logprobs(reference, config, row["prompt"], row["completion"])
        log_ratio = ref - pol  # log(ref / pi) of the sampled tokens
        k3 = torch.exp(log_ratio) - log_ratio - 1
        losses.append(-a * pol.sum() + coef * k3.sum())
    return torch.stack(losses).mean()


def logit_distill(batch, policy, teacher, student_config, teacher_config):
    """Hinton et al. 2015: T^2 KL(softmax(teacher/T) || softmax(student/T)) per
    completion position, averaged over all completion positions of the batch."""
    t = batch["temperature"]
    total, count = 0.0, 0
    for row in batch["rows"]:
        ids = list(row["prompt"]) + list(row["completion"])
        positions = torch.arange(len(row["prompt"]) - 1, len(ids) - 1)
        s = logits_of(policy, student_config, ids[:-1])[positions]
        with torch.no_grad():
            q = logits_of(teacher, teacher_config, ids[:-1])[positions]
        kl = F.kl_div(F.log_softmax(s / t, dim=-1), F.log_softmax(q / t, dim=-1), reduction="none",
                      log_target=True).sum(-1)
        total = total + kl.sum()
        count += len(positions)
    return t * t * total / count


def show_head(batch, policy, config):
    """A logistic regression on the final hidden state at the last prompt token,
    binary cross-entropy averaged over the batch. Returns (loss, {name: head tensor})."""
    w = torch.tensor(batch["head_weight"], dtype=torch.float32, requires_grad=True)
    b = torch.tensor([batch["head_bias"]], dtype=torch.float32, requires_grad=True)
    losses = []
    for row in batch["rows"]:
        with torch.no_grad():
            h = final_hidden(policy, config, torch.tensor(row["prompt"], dtype=torch.int64))[0, -1]
        z = h @ w + b[0]
        y = 1.0 if row["label"] else 0.0
        losses.append(-(y * F.logsigmoid(z) + (1 - y) * F.logsigmoid(-z)))
    return torch.stack(losses).mean(), {"flywheel.show_head.weight": w, "flywheel.show_head.bias": b}


def show_probabilities(directory, prompts):
    """sigmoid(w . h + b) per prompt, with the head stored in the checkpoint's model.safetensors."""
    params, config = load_checkpoint(directory)
    w, b = params["flywheel.show_head.weight"], params["flywheel.show_head.bias"][0]
    out = []
    with torch.no_grad():
        for ids in prompts:
            h = final_hidden(params, config, torch.tensor(ids, dtype=torch.int64))[0, -1]
            out.append(float(torch.sigmoid(h @ w + b)))
    return out


def main():
    if sys.argv[1] == "--probability":
        with open(sys.argv[3]) as f:
            print(json.dumps({"probabilities": show_probabilities(sys.argv[2], json.load(f))}))
        return
    with open(sys.argv[1]) as f:
        batch = json.load(f)
    policy, config = load_checkpoint(batch["policy"])
    other, other_config = load_checkpoint(batch["frozen"])
    kind = batch["objective"]
    compared = policy
    if kind != "show":
        for p in policy.values():
            p.requires_grad_(True)
    if kind == "show":
        loss, compared = show_head(batch, policy, config)
    elif kind == "dpo":
        loss = dpo(batch, policy, other, config)
    elif kind == "kto":
        loss = kto(batch, policy, other, config)
    elif kind == "pg":
        loss = policy_gradient(batch, policy, other, config)
    elif kind == "distill":
        loss = logit_distill(batch, policy, other, config, other_config)
    else:
        raise SystemExit(f"unknown objective {kind}")
    loss.backward()
    theirs = read_safetensors(batch["gradients"])
    max_diff, max_abs = 0.0, 0.0
    for name, p in compared.items():
        if name not in theirs:
            print(json.dumps({"error": f"flywheel has no gradient for {name}"}))
            sys.exit(1)
        g = torch.as_tensor(theirs[name]).to(torch.float32)
        mine = p.grad if p.grad is not None else torch.zeros_like(p)
        if tuple(g.shape) != tuple(mine.shape):
            print(json.dumps({"error": f"{name}: shape {tuple(g.shape)} vs {tuple(mine.shape)}"}))
            sys.exit(1)
        max_diff = max(max_diff, float((g - mine).abs().max()))
        max_abs = max(max_abs, float(mine.abs().max()))
    print(json.dumps({"loss": float(loss), "loss_diff": abs(float(loss) - batch["loss"]),
                      "grad_max_diff": max_diff, "grad_max_abs": max_abs, "tensors": len(compared)}))


if __name__ == "__main__":
    main()
