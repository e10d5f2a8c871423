"""Row-sparse updates: an Adam that touches only the embedding rows a batch used.

Both backbones keep sparse embedding tables, so a backward pass yields, for each table, the rows
of the batch and their gradients (with repeats). :func:`coalesce_rows` sums the repeats with
fixed-size tensor operations (no host synchronisation on a GPU), and :class:`Adam` applies the
Adam update to those rows only ("lazy" Adam, as ``torch.optim.SparseAdam``; with
``lazy=False`` to every row, as ``torch.optim.Adam`` on a dense table), and the ordinary Adam
update to dense parameters. The inverse-gradient meta-step (``invlearn.methods``) uses the
same row view to perturb and restore only the rows it touched, so its cost does not grow with
the catalogue (book chapter 5).
"""
from __future__ import annotations

import torch


def trainable(model: torch.nn.Module) -> list[torch.Tensor]:
    """The parameters of ``model`` that a step moves (those that require a gradient)."""
    return [p for p in model.parameters() if p.requires_grad]


def coalesce_rows(grad: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Rows and summed gradients of a sparse row gradient, as two fixed-size tensors.

    Returns ``(rows, values)`` with one entry per stored entry of ``grad``: the first ``k``
    entries are the ``k`` distinct rows (sorted) with their summed gradients, and the remaining
    entries repeat the last distinct row and its value, so that *writing* ``values`` into
    ``rows`` is exact and needs no knowledge of ``k`` on the host.
    """
    idx, order = torch.sort(grad._indices()[0])  # the permutation argsort gives
    vals = grad._values().index_select(0, order)
    start = torch.ones_like(idx, dtype=torch.bool)
    start[1:] = idx[1:] != idx[:-1]
    seg = torch.cumsum(start, 0) - 1
    summed = torch.zeros_like(vals).index_add_(0, seg, vals)
    rows = torch.zeros_like(idx).scatter_(0, seg, idx)
    fill = torch.minimum(torch.arange(len(idx), device=idx.device), seg[-1])
    return rows.index_select(0, fill), summed.index_select(0, fill)


def unique_rows(grad: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The distinct rows of a sparse row gradient (sorted) and their summed gradients, with few
    operations: the CPU twin of :func:`coalesce_rows`, which pads to a fixed size so that a GPU
    never waits for the host. Repeats are summed in the same order as :func:`coalesce_rows`
    sums them, so both give the same bits."""
    idx, order = torch.sort(grad._indices()[0])
    vals = grad._values().index_select(0, order)
    rows, seg = torch.unique_consecutive(idx, return_inverse=True)
    return rows, vals.new_zeros((len(rows), *vals.shape[1:])).index_add_(0, seg, vals)


def row_gradient(grad: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Rows and summed gradients of a sparse row gradient, the cheaper way for its device:
    :func:`unique_rows` (distinct rows) on the CPU, :func:`coalesce_rows` (fixed size, no host
    synchronisation) elsewhere. Both write the same values into the same rows."""
    return unique_rows(grad) if grad.device.type == "cpu" else coalesce_rows(grad)


def dense_gradient(grad: torch.Tensor) -> torch.Tensor:
    """A sparse row gradient as a dense tensor: repeats summed, zero on the rows it does not
    hold. (``Tensor.to_dense`` returns zeros for one-column tables in torch 2.13, so the rows
    are written from the coalesced values instead.)"""
    grad = grad.coalesce()
    dense = torch.zeros(grad.shape, dtype=grad.dtype, device=grad.device)
    return dense.index_copy_(0, grad.indices()[0], grad.values())


class Adam:
    """Adam on dense parameters and, on sparse embedding gradients, lazy (row-wise) or dense
    Adam (chapter 5).

    The dense part does what ``torch.optim.Adam`` does, in the same order of operations (so the
    same numbers), without its per-call overhead. With ``lazy`` (the default) the sparse part
    keeps full-size moment tables but reads and writes only the rows of each step, with the
    global step count for bias correction (the semantics of ``torch.optim.SparseAdam``). With
    ``lazy=False`` a table's sparse gradient is made dense (zero on the rows the batch did not
    use) and the table gets the dense update: every row moves at every step, the rows a batch
    did not use by their momentum — ``torch.optim.Adam`` on a dense table.
    """

    def __init__(self, model: torch.nn.Module, lr: float,
                 betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8,
                 lazy: bool = True):
        self.params = trainable(model)
        sparse = {id(m.weight) for m in model.modules()
                  if isinstance(m, torch.nn.Embedding) and m.sparse} if lazy else set()
        self.sparse = [p for p in self.params if id(p) in sparse]
        dense = [p for p in self.params if id(p) not in sparse]
        self.lr, self.betas, self.eps, self.lazy = lr, betas, eps, lazy
        self.dense = dense
        self.state = {id(p): (torch.zeros_like(p), torch.zeros_like(p)) for p in self.params}
        self.steps = 0

    def zero_grad(self) -> None:
        for p in self.params:
            p.grad = None

    @torch.no_grad()
    def step(self) -> None:
        self.steps += 1
        b1, b2 = self.betas
        c1, c2 = 1 - b1 ** self.steps, 1 - b2 ** self.steps
        for p in self.dense:  # the arithmetic of torch.optim.Adam, without its per-call overhead
            if p.grad is None:
                continue
            grad = dense_gradient(p.grad) if p.grad.is_sparse else p.grad  # dense: every row
            m, v = self.state[id(p)]
            m.lerp_(grad, 1 - b1)
            v.mul_(b2).addcmul_(grad, grad, value=1 - b2)
            p.addcdiv_(m, (v.sqrt() / c2 ** 0.5).add_(self.eps), value=-(self.lr / c1))
        for p in self.sparse:
            if p.grad is None:
                continue
            m, v = self.state[id(p)]
            if not p.grad.is_sparse:  # a dense gradient on a sparse table: update every row
                rows = torch.arange(len(p), device=p.device)
                g = p.grad
            else:
                rows, g = row_gradient(p.grad)
            # index_select / index_copy_ are the row gathers and scatters of m[rows] = …
            # with less dispatch; repeated rows (coalesce_rows) carry equal values
            m_rows = m.index_select(0, rows).mul_(b1).add_(g, alpha=1 - b1)
            v_rows = v.index_select(0, rows).mul_(b2).addcmul_(g, g, value=1 - b2)
            m.index_copy_(0, rows, m_rows)
            v.index_copy_(0, rows, v_rows)
            denom = (v_rows / c2).sqrt_().add_(self.eps)
            p.index_copy_(0, rows, p.index_select(0, rows) - self.lr * (m_rows / c1) / denom)
