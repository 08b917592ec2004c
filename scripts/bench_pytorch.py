"""NeuroLLM in PyTorch eager, the same architecture and optimizer as compute/ (tch), for
scripts/bench-train-vs-pytorch. Prints 'pytorch tokens/s N'."""
import argparse, math, time
import torch
import torch.nn.functional as F

p = argparse.ArgumentParser()
for name, default in [("hidden", 256), ("layers", 4), ("heads", 8), ("kv_heads", 4), ("ffn", 688),
                      ("vocab", 259), ("batch_size", 8), ("seq_len", 64), ("steps", 30), ("threads", 0)]:
    p.add_argument(f"--{name.replace('_', '-')}", type=int, default=default)
p.add_argument("--lr", type=float, default=1e-3)
a = p.parse_args()
if a.threads:
    torch.set_num_threads(a.threads)
torch.manual_seed(0)
D, H, KV, HD = a.hidden, a.heads, a.kv_heads, a.hidden // a.heads

def param(*shape, std=0.02):
    return torch.nn.Parameter(torch.randn(*shape) * std)

def rms_norm(x, w):
    return x * (x.pow(2).mean(-1, keepdim=True) + 1e-5).rsqrt() * w

half = HD // 2
inv = torch.exp(torch.arange(half, dtype=torch.float32) * (-2.0 * math.log(10000.0) / HD))
ang = torch.arange(a.seq_len, dtype=torch.float32)[:, None] * inv[None, :]
COS, SIN = ang.cos(), ang.sin()

def rope(x):
    x1, x2 = x[..., :half], x[..., half:]
    return torch.cat([x1 * COS - x2 * SIN, x1 * SIN + x2 * COS], -1)

out_std = 0.02 / math.sqrt(2 * a.layers)
params = {"embed": param(a.vocab, D), "norm": torch.nn.Parameter(torch.ones(D))}
for i in range(a.layers):
    params.update({f"{i}.an": torch.nn.Parameter(torch.ones(D)), f"{i}.wq": param(D, D), f"{i}.wk": param(KV * HD, D),
                   f"{i}.wv": param(KV * HD, D), f"{i}.wo": param(D, D, std=out_std), f"{i}.fn": torch.nn.Parameter(torch.ones(D)),
                   f"{i}.w1": param(a.ffn, D), f"{i}.w2": param(D, a.ffn, std=out_std), f"{i}.w3": param(a.ffn, D)})

def forward(tokens):
    h = F.embedding(tokens, params["embed"])
    b, t, _ = h.shape
    for i in range(a.layers):
        x = rms_norm(h, params[f"{i}.an"])
        q = rope((x @ params[f"{i}.wq"].T).view(b, t, H, HD).transpose(1, 2))
        k = rope((x @ params[f"{i}.wk"].T).view(b, t, KV, HD).transpose(1, 2))
        v = (x @ params[f"{i}.wv"].T).view(b, t, KV, HD).transpose(1, 2)
        o = F.scaled_dot_product_attention(q, k, v, is_causal=True, enable_gqa=True)
        h = h + o.transpose(1, 2).contiguous().view(b, t, D) @ params[f"{i}.wo"].T
        x = rms_norm(h, params[f"{i}.fn"])
        h = h + (F.silu(x @ params[f"{i}.w1"].T) * (x @ params[f"{i}.w3"].T)) @ params[f"{i}.w2"].T
    return rms_norm(h, params["norm"]) @ params["embed"].T

opt = torch.optim.AdamW(params.values(), lr=a.lr, betas=(0.9, 0.95), weight_decay=0.1)
warmup = max(1, a.steps // 10)

def step(i):
    tokens = torch.randint(0, 256, (a.batch_size, a.seq_len + 1))
    logits = forward(tokens[:, :-1])
    loss = F.cross_entropy(logits.reshape(-1, a.vocab), tokens[:, 1:].reshape(-1))
    lr = a.lr * (i + 1) / warmup if i < warmup else a.lr * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * min(1.0, (i - warmup) / a.steps))))
    for g in opt.param_groups:
        g["lr"] = lr
    opt.zero_grad()
    loss.backward()
    torch.nn.utils.clip_grad_norm_(params.values(), 1.0)
    opt.step()

step(0)  # warm-up, untimed
t0 = time.perf_counter()
for i in range(a.steps):
    step(i)
secs = time.perf_counter() - t0
print(f"pytorch tokens/s {a.steps * a.batch_size * a.seq_len / secs:.1f}")
