"""Causal temporal streams over per-frame tokens, each runnable whole-sequence or one step at a time.

Every stream has ``run(x, state) -> (y, state)`` over a chunk of steps that continues a cached
state, ``forward(x) -> y`` (a whole sequence: ``run`` from the empty state) and
``step(x_t, state) -> (y_t, state)`` (one step), and they agree (the tests check it):

* :class:`LstmStream`: ``nn.LSTM`` (h, c cached);
* :class:`CausalTransformerStream`: pre-norm Transformer encoder whose attention in each layer sees the
  last ``window`` tokens only (banded causal mask in training, a key/value cache of
  ``window - 1`` tokens when streaming) with a learned relative-position bias, so
  training and streaming compute the same thing (the receptive field of L layers is
  L * (window - 1) + 1 tokens);
* :class:`MultiScaleConvStream`: projection to ``width``, then causal 1D convolutions with
  kernels 7/11/15 (a buffer of the last ``max(kernel) - 1`` projected tokens when streaming).
"""
from __future__ import annotations

import torch
from torch import Tensor, nn
from torch.nn import functional as F

StreamState = tuple[Tensor, ...]


class LstmStream(nn.Module):
    """Short-term dynamics: ``nn.LSTM(in_dim -> width, layers, dropout)``."""

    def __init__(self, in_dim: int, width: int, layers: int, dropout: float) -> None:
        super().__init__()
        self.lstm = nn.LSTM(in_dim, width, num_layers=layers, dropout=dropout, batch_first=True)

    def forward(self, tokens: Tensor) -> Tensor:
        """Shape: (B, T, in_dim) -> (B, T, width)."""
        return self.lstm(tokens)[0]

    def run(self, tokens: Tensor, state: StreamState) -> tuple[Tensor, StreamState]:
        """Shape: (B, T, in_dim) -> (B, T, width), continuing (h, c)."""
        out, (hidden, cell) = self.lstm(tokens, (state[0], state[1]))
        return out, (hidden, cell)

    def initial_state(self, batch: int, device: torch.device) -> StreamState:
        """Zero (h, c), each (layers, B, width)."""
        shape = (self.lstm.num_layers, batch, self.lstm.hidden_size)
        return torch.zeros(shape, device=device), torch.zeros(shape, device=device)

    def step(self, token: Tensor, state: StreamState) -> tuple[Tensor, StreamState]:
        """Shape: (B, in_dim) -> (B, width).

        The LSTM cell equations on ``nn.LSTM``'s own weights (gate order i, f, g, o): at one
        time step and batch 1 this is 2.8x faster on CPU than calling ``nn.LSTM``
        (0.37 vs 1.04 ms measured on the 2-core Xeon), and equal to it (the tests check).
        """
        lstm = self.lstm
        layer_input = token
        hiddens, cells = [], []
        for layer in range(lstm.num_layers):
            gates = F.linear(layer_input, getattr(lstm, f"weight_ih_l{layer}"), getattr(lstm, f"bias_ih_l{layer}")) \
                + F.linear(state[0][layer], getattr(lstm, f"weight_hh_l{layer}"), getattr(lstm, f"bias_hh_l{layer}"))
            in_gate, forget_gate, cell_gate, out_gate = gates.chunk(4, dim=1)
            cell = torch.sigmoid(forget_gate) * state[1][layer] + torch.sigmoid(in_gate) * torch.tanh(cell_gate)
            hidden = torch.sigmoid(out_gate) * torch.tanh(cell)
            hiddens.append(hidden)
            cells.append(cell)
            last = layer == lstm.num_layers - 1
            layer_input = hidden if last else F.dropout(hidden, lstm.dropout, training=self.training)
        return layer_input, (torch.stack(hiddens), torch.stack(cells))


class WindowedSelfAttention(nn.Module):
    """Multi-head causal self-attention over the last ``window`` tokens with relative-position bias."""

    def __init__(self, width: int, heads: int, window: int, dropout: float) -> None:
        super().__init__()
        self.heads, self.window, self.dropout = heads, window, dropout
        self.qkv = nn.Linear(width, 3 * width)
        self.out = nn.Linear(width, width)
        self.rel_bias = nn.Parameter(torch.zeros(heads, window))  # bias[h, distance]

    def _split(self, x: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """(B, T, width) -> three (B, heads, T, width / heads)."""
        batch, steps, _ = x.shape
        qkv = self.qkv(x).reshape(batch, steps, 3, self.heads, -1)  # (B, T, 3, H, D)
        q, k, v = qkv.permute(2, 0, 3, 1, 4)  # each (B, H, T, D)
        return q, k, v

    def run(self, x: Tensor, cache_k: Tensor, cache_v: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """T new tokens against their own causal past and up to ``window - 1`` cached tokens before them.

        Shape: x (B, T, width), cache (B, H, C, D) -> (B, T, width), caches (B, H, min(C + T, window - 1), D).
        """
        q, k, v = self._split(x)  # each (B, H, T, D)
        keys, values = torch.cat([cache_k, k], dim=2), torch.cat([cache_v, v], dim=2)  # (B, H, C + T, D)
        cached, steps = cache_k.shape[2], x.shape[1]
        positions = torch.arange(keys.shape[2], device=x.device)
        distance = positions[cached:, None] - positions[None, :]  # (T, C + T): query minus key position
        bias = self.rel_bias[:, distance.clamp(0, self.window - 1)]  # (H, T, C + T)
        if steps > 1 or cached + steps > self.window:  # keys in a query's future or past its window
            bias = bias.masked_fill((distance < 0) | (distance >= self.window), float("-inf"))
        attended = F.scaled_dot_product_attention(q, keys, values, attn_mask=bias[None],
                                                  dropout_p=self.dropout if self.training else 0.0)
        keep = self.window - 1
        out = self.out(attended.transpose(1, 2).reshape(x.shape[0], steps, -1))  # (B, T, width)
        return out, keys[:, :, -keep:], values[:, :, -keep:]


class TransformerLayer(nn.Module):
    """Pre-norm block: x + attention(norm(x)), then x + feed-forward(norm(x))."""

    def __init__(self, width: int, heads: int, window: int, ffn: int, dropout: float) -> None:
        super().__init__()
        self.norm1, self.norm2 = nn.LayerNorm(width), nn.LayerNorm(width)
        self.attention = WindowedSelfAttention(width, heads, window, dropout)
        self.ffn = nn.Sequential(nn.Linear(width, ffn), nn.GELU(), nn.Linear(ffn, width))
        self.drop = nn.Dropout(dropout)

    def run(self, x: Tensor, cache_k: Tensor, cache_v: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """Shape: (B, T, width) -> (B, T, width) plus updated caches."""
        attended, cache_k, cache_v = self.attention.run(self.norm1(x), cache_k, cache_v)
        x = x + self.drop(attended)
        return x + self.drop(self.ffn(self.norm2(x))), cache_k, cache_v


class CausalTransformerStream(nn.Module):
    """Long-range patterns: projection to ``width`` and ``layers`` windowed causal Transformer blocks."""

    def __init__(self, in_dim: int, width: int, layers: int, heads: int, window: int, ffn: int,
                 dropout: float) -> None:
        super().__init__()
        self.proj = nn.Linear(in_dim, width)
        self.blocks = nn.ModuleList(TransformerLayer(width, heads, window, ffn, dropout) for _ in range(layers))
        self.norm = nn.LayerNorm(width)
        self.heads, self.width = heads, width

    def forward(self, tokens: Tensor) -> Tensor:
        """Shape: (B, T, in_dim) -> (B, T, width)."""
        return self.run(tokens, self.initial_state(tokens.shape[0], tokens.device))[0]

    def run(self, tokens: Tensor, state: StreamState) -> tuple[Tensor, StreamState]:
        """Shape: (B, T, in_dim) -> (B, T, width), continuing the key/value caches."""
        x = self.proj(tokens)
        caches: list[Tensor] = []
        for index, block in enumerate(self.blocks):
            x, cache_k, cache_v = block.run(x, state[2 * index], state[2 * index + 1])
            caches += [cache_k, cache_v]
        return self.norm(x), tuple(caches)

    def initial_state(self, batch: int, device: torch.device) -> StreamState:
        """Empty key/value caches: 2 per layer, each (B, heads, 0, width / heads)."""
        empty = torch.zeros(batch, self.heads, 0, self.width // self.heads, device=device)
        return tuple(empty for _ in range(2 * len(self.blocks)))

    def step(self, token: Tensor, state: StreamState) -> tuple[Tensor, StreamState]:
        """Shape: (B, in_dim) -> (B, width)."""
        out, state = self.run(token[:, None, :], state)
        return out[:, 0], state


class MultiScaleConvStream(nn.Module):
    """Multi-scale temporal stream: project, causal convolutions (kernels 7/11/15), merge."""

    def __init__(self, in_dim: int, width: int, kernels: tuple[int, ...], branch: int) -> None:
        super().__init__()
        self.proj = nn.Linear(in_dim, width)
        self.convs = nn.ModuleList(nn.Conv1d(width, branch, kernel) for kernel in kernels)
        self.merge = nn.Linear(branch * len(kernels), width)
        self.history = max(kernels) - 1
        self.width = width

    def _convolve(self, padded: Tensor, steps: int) -> Tensor:
        """Shape: (B, width, history + T) -> (B, T, width)."""
        outs = [conv(padded[:, :, padded.shape[2] - steps - conv.kernel_size[0] + 1:]) for conv in self.convs]
        return self.merge(F.gelu(torch.cat(outs, dim=1)).transpose(1, 2))

    def forward(self, tokens: Tensor) -> Tensor:
        """Shape: (B, T, in_dim) -> (B, T, width); the zero initial history makes it causal."""
        return self.run(tokens, self.initial_state(tokens.shape[0], tokens.device))[0]

    def run(self, tokens: Tensor, state: StreamState) -> tuple[Tensor, StreamState]:
        """Shape: (B, T, in_dim) -> (B, T, width), continuing the history of projected tokens."""
        window = torch.cat([state[0], self.proj(tokens).transpose(1, 2)], dim=2)  # (B, width, history + T)
        return self._convolve(window, tokens.shape[1]), (window[:, :, window.shape[2] - self.history:],)

    def initial_state(self, batch: int, device: torch.device) -> StreamState:
        """Zero history of projected tokens, (B, width, max(kernel) - 1)."""
        return (torch.zeros(batch, self.width, self.history, device=device),)

    def step(self, token: Tensor, state: StreamState) -> tuple[Tensor, StreamState]:
        """Shape: (B, in_dim) -> (B, width)."""
        out, state = self.run(token[:, None, :], state)
        return out[:, 0], state
