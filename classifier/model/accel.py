"""CPU speed-up that keeps the numbers: linear layers on oneDNN with weights packed once.

PyTorch's default CPU linear (MKL addmm) re-reads the weight in its stored layout on
every call; oneDNN reorders it once into the blocked layout its kernels read fastest
(the path torch.compile takes on CPU), and applies a following exact GELU in the same
pass. Results agree to float rounding (about 1e-6 on the logits), and each layer is
checked against the plain layer before it is swapped.
"""

import ctypes
import mmap
import sys

import torch
from torch import nn

_CHECK_ROWS = 5
_MADV_DONTNEED = 4  # Linux


class PackedLinear(nn.Module):
    """nn.Linear (optionally followed by exact GELU) whose weight lives in oneDNN's packed layout."""

    def __init__(self, linear, rows_hint, gelu=False):
        super().__init__()
        self.in_features, self.out_features = linear.in_features, linear.out_features
        self.post_op = "gelu" if gelu else "none"
        self.register_buffer("packed_weight", torch.ops.mkldnn._reorder_linear_weight(linear.weight.detach(),
                                                                                        rows_hint))
        self.register_buffer("bias", None if linear.bias is None else linear.bias.detach())
        self._plain_weight = None

    def forward(self, x):
        if torch.is_grad_enabled() and x.requires_grad:
            # A map asked for gradients, and the packed kernel has no backward: the plain layer.
            x = nn.functional.linear(x, self.plain_weight(), self.bias)
            return nn.functional.gelu(x) if self.post_op == "gelu" else x
        # "none" as algorithm: the erf GELU of nn.functional.gelu, not the tanh approximation.
        return torch.ops.mkldnn._linear_pointwise(x, self.packed_weight, self.bias, self.post_op, [], "none")

    def plain_weight(self):
        """The (out, in) weight, read back from the packed one: the identity through it, exact (each
        output is one weight times 1 plus zeros). Made on the first map with gradients and kept."""
        if self._plain_weight is None:
            with torch.no_grad():
                identity = torch.eye(self.in_features, dtype=self.packed_weight.dtype)
                columns = torch.ops.mkldnn._linear_pointwise(identity, self.packed_weight, None, "none", [], "none")
                self._plain_weight = columns.t().contiguous()
        return self._plain_weight


def pack_linear_layers(model, rows_hint=256):
    """Swap every nn.Linear of a CPU model for a PackedLinear that gives the same outputs.

    rows_hint: rows per call the packing is tuned for (tokens per image).
    Returns the number of layers swapped; 0 where this PyTorch has no oneDNN.
    """
    if not torch.backends.mkldnn.is_available():
        return 0
    swapped = 0
    mapped = _safetensors_mappings()
    for parent in list(model.modules()):
        for name, child in list(parent.named_children()):
            if type(child) is nn.Linear and child.weight.device.type == "cpu":
                gelu = _fusable_gelu(parent, name)
                packed = _packed_if_equal(child, rows_hint, gelu)
                if packed is None and gelu:
                    gelu, packed = False, _packed_if_equal(child, rows_hint, False)
                if packed is not None:
                    setattr(parent, name, packed)
                    if gelu:
                        parent.activation_fn = nn.Identity()
                    _forget_file_pages(child.weight, mapped)
                    swapped += 1
    return swapped


def _forget_file_pages(tensor, mapped):
    """Hand back the RAM of a weight read through the safetensors file mapping.

    transformers maps the weights file into memory; reading a weight to pack it makes
    its pages resident, and they would stay so beside the packed copy (twice the model
    in RAM). The packed copy is all we use from now on: the kernel may drop those pages,
    and would reread them from the file if anything ever touched them again. Only done
    for memory inside one of the (low, high) .safetensors mappings given (Linux).
    """
    start = tensor.data_ptr()
    end = start + tensor.numel() * tensor.element_size()
    if not any(low <= start and end <= high for low, high in mapped):
        return
    page = mmap.PAGESIZE
    first, last = -(-start // page) * page, end // page * page  # whole pages inside the tensor
    if last > first:
        ctypes.CDLL(None).madvise(ctypes.c_void_p(first), ctypes.c_size_t(last - first), _MADV_DONTNEED)


def _safetensors_mappings():
    """(low, high) address ranges where .safetensors files are mapped; none off Linux."""
    if not sys.platform.startswith("linux"):
        return []
    ranges = []
    try:
        with open("/proc/self/maps") as maps:
            for line in maps:
                fields = line.split(maxsplit=5)
                if len(fields) == 6 and fields[5].strip().endswith(".safetensors"):
                    low, high = (int(value, 16) for value in fields[0].split("-"))
                    ranges.append((low, high))
    except (OSError, ValueError):
        return []
    return ranges


def _fusable_gelu(parent, name):
    """True for fc1 of an MLP block (fc1, activation_fn, fc2) whose activation is the exact GELU."""
    from transformers.activations import GELUActivation

    activation = getattr(parent, "activation_fn", None)
    return (name == "fc1" and hasattr(parent, "fc2") and type(activation) is GELUActivation
            and activation.act is nn.functional.gelu)


def _packed_if_equal(linear, rows_hint, gelu):
    try:
        packed = PackedLinear(linear, rows_hint, gelu)
        with torch.inference_mode():
            x = torch.randn(_CHECK_ROWS, linear.in_features, generator=torch.Generator().manual_seed(0))
            x = x.to(linear.weight.dtype)
            expected = linear(x)
            expected = (nn.functional.gelu(expected) if gelu else expected).float()
            actual = packed(x).float()
    except RuntimeError:  # an op this build or this CPU lacks: keep the plain layer
        return None
    tolerance = 1e-4 if linear.weight.dtype == torch.float32 else 2e-2
    if actual.shape != expected.shape or not torch.allclose(actual, expected, rtol=tolerance, atol=tolerance):
        return None
    return packed

