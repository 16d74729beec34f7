"""The NeuMF network (He et al. 2017): a GMF branch and an MLP branch, fused into one logit.

GMF: the element-wise product of a user and an item embedding. MLP: a separate pair of
embeddings, concatenated and passed through ReLU layers. NeuMF concatenates the GMF
product with the last MLP layer and maps it to one logit. Either branch alone is the
paper's GMF or MLP model (used for pre-training).

Scoring every item for a user is where serving time goes, so `ItemSide` caches what does
not depend on the user: the item embeddings and the item half of the first MLP layer
(the first layer over [user, item] is W_u user + W_i item + b, and W_i item is the same
for every user).
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import nn

# Score cells (users x items x first hidden width) computed at once in `score_all`.
_SCORE_CELLS = 4_000_000


class NeuMF(nn.Module):
    """GMF and/or MLP branches over their own user and item embeddings, one output logit.

    `mlp_layers[0]` is the width of the concatenated MLP embeddings (each side half of it),
    the rest the hidden layer widths, as in the paper's "[64, 32, 16]"."""

    def __init__(
        self,
        n_users: int,
        n_items: int,
        factors: int,
        mlp_layers: Sequence[int],
        *,
        gmf: bool = True,
        mlp: bool = True,
    ) -> None:
        super().__init__()
        if not gmf and not mlp:
            raise ValueError("NeuMF needs at least one of the GMF and MLP branches")
        self.use_gmf, self.use_mlp = gmf, mlp
        width = 0
        if gmf:
            self.gmf_user = nn.Embedding(n_users, factors)
            self.gmf_item = nn.Embedding(n_items, factors)
            width += factors
        if mlp:
            side = mlp_layers[0] // 2
            self.mlp_user = nn.Embedding(n_users, side)
            self.mlp_item = nn.Embedding(n_items, side)
            sizes = [2 * side, *mlp_layers[1:]]
            self.mlp_hidden = nn.ModuleList(
                nn.Linear(size_in, size_out) for size_in, size_out in itertools.pairwise(sizes)
            )
            width += sizes[-1]
        self.output = nn.Linear(width, 1)
        self._initialise()

    def _initialise(self) -> None:
        # The paper's N(0, 0.01) embeddings; Xavier for the layers, LeCun-like output.
        for module in self.modules():
            if isinstance(module, nn.Embedding):
                nn.init.normal_(module.weight, std=0.01)
            elif isinstance(module, nn.Linear):
                nn.init.xavier_uniform_(module.weight)
                nn.init.zeros_(module.bias)

    def _mlp_tail(self, hidden: torch.Tensor) -> torch.Tensor:
        """ReLU after the first layer's pre-activation, then the remaining layers."""
        hidden = torch.relu(hidden)
        for layer in list(self.mlp_hidden)[1:]:
            hidden = torch.relu(layer(hidden))
        return hidden

    def forward(
        self, users: torch.Tensor, items: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """One logit per (user, item) pair, and the squared norm of the embeddings looked
        up for each pair (L2 on the rows a batch uses, weighted by how often they occur,
        rather than Adam's decay of every row at every step).

        The concatenations of the paper ([user, item] into the first MLP layer, [GMF, MLP]
        into the output) are computed as sums of the weight matrices' halves applied to
        each part: the same numbers, without copying every batch into a new tensor (the
        copies were an eighth of an epoch's time)."""
        weight = self.output.weight[0]
        logits = self.output.bias.expand(len(users))
        squares = torch.zeros(len(users), device=users.device)
        offset = 0
        if self.use_gmf:
            user_vectors, item_vectors = self.gmf_user(users), self.gmf_item(items)
            factors = user_vectors.shape[1]
            logits = logits + (user_vectors * item_vectors) @ weight[:factors]
            squares = squares + user_vectors.square().sum(-1) + item_vectors.square().sum(-1)
            offset = factors
        if self.use_mlp:
            user_vectors, item_vectors = self.mlp_user(users), self.mlp_item(items)
            squares = squares + user_vectors.square().sum(-1) + item_vectors.square().sum(-1)
            side = user_vectors.shape[1]
            if len(self.mlp_hidden):
                first = self.mlp_hidden[0]
                hidden = torch.addmm(first.bias, user_vectors, first.weight[:, :side].T)
                hidden = hidden.addmm(item_vectors, first.weight[:, side:].T)
                logits = logits + self._mlp_tail(hidden) @ weight[offset:]
            else:  # no hidden layer: the output layer reads [user, item] directly
                tail = weight[offset:]
                logits = logits + user_vectors @ tail[:side] + item_vectors @ tail[side:]
        return logits, squares

    def embedding_parameters(self) -> list[nn.Parameter]:
        return [m.weight for m in self.modules() if isinstance(m, nn.Embedding)]

    def layer_parameters(self) -> list[nn.Parameter]:
        embeddings = {id(p) for p in self.embedding_parameters()}
        return [p for p in self.parameters() if id(p) not in embeddings]

    def item_side(self) -> ItemSide:
        """What scoring all items needs that does not depend on the user (no gradients)."""
        with torch.no_grad():
            first = None
            if self.use_mlp and len(self.mlp_hidden):
                side = self.mlp_user.embedding_dim
                layer = self.mlp_hidden[0]
                first = self.mlp_item.weight @ layer.weight[:, side:].T + layer.bias
            return ItemSide(
                gmf=self.gmf_item.weight.detach().clone() if self.use_gmf else None,
                mlp=self.mlp_item.weight.detach().clone() if self.use_mlp else None,
                mlp_first=first.detach().clone() if first is not None else None,
            )

    @torch.no_grad()
    def score_all(self, users: torch.Tensor, items: ItemSide) -> torch.Tensor:
        """Logits of every item for each user: users x items, without per-pair lookups."""
        weight = self.output.weight[0]
        n_items = len(items.gmf if items.gmf is not None else items.mlp)  # type: ignore[arg-type]
        scores = torch.full((len(users), n_items), float(self.output.bias[0]), device=users.device)
        offset = 0
        if self.use_gmf and items.gmf is not None:
            factors = items.gmf.shape[1]
            scores += (self.gmf_user(users) * weight[:factors]) @ items.gmf.T
            offset = factors
        if self.use_mlp and items.mlp is not None:
            user_vectors = self.mlp_user(users)
            if items.mlp_first is None:  # no hidden layer: a linear function of [user, item]
                side = user_vectors.shape[1]
                tail = weight[offset:]
                scores += (user_vectors @ tail[:side])[:, None] + (items.mlp @ tail[side:])[None]
                return scores
            side = user_vectors.shape[1]
            user_first = user_vectors @ self.mlp_hidden[0].weight[:, :side].T
            width = items.mlp_first.shape[1]
            step = max(1, _SCORE_CELLS // max(n_items * width, 1))
            for start in range(0, len(users), step):
                rows = slice(start, start + step)
                hidden = self._mlp_tail(user_first[rows, None, :] + items.mlp_first[None])
                scores[rows] += hidden @ weight[offset:]
        return scores


@dataclass(frozen=True)
class ItemSide:
    """Item embeddings and the item half of the first MLP layer, for `score_all`."""

    gmf: torch.Tensor | None
    mlp: torch.Tensor | None
    mlp_first: torch.Tensor | None


def fuse_pretrained(gmf: NeuMF, mlp: NeuMF, fused: NeuMF, alpha: float) -> None:
    """Initialise NeuMF from pre-trained GMF and MLP models (the paper's section 3.4.1):
    their embeddings and layers as they are, the output layer their two output layers
    side by side, weighted alpha and 1 - alpha."""
    with torch.no_grad():
        for name in ("gmf_user", "gmf_item"):
            getattr(fused, name).weight.copy_(getattr(gmf, name).weight)
        for name in ("mlp_user", "mlp_item"):
            getattr(fused, name).weight.copy_(getattr(mlp, name).weight)
        fused.mlp_hidden.load_state_dict(mlp.mlp_hidden.state_dict())
        fused.output.weight.copy_(
            torch.cat([alpha * gmf.output.weight, (1 - alpha) * mlp.output.weight], dim=1)
        )
        fused.output.bias.copy_(alpha * gmf.output.bias + (1 - alpha) * mlp.output.bias)
