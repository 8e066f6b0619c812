"""Grouped layers against plain PyTorch: one dense conv (linear) whose weight
is masked by the connectivity's block pattern, at every k."""

import pytest
import torch
import torch.nn.functional as F

from groupscale_train import GroupedConv, GroupedLinear, GroupHead


def block_mask(connectivity, n_out, n_in, groups):
    """[n_out, n_in]: 1 where output channel o may read input channel i.
    Written from the definition, not from the layer code: group j (output
    rows j*og..) reads every input (full), input group j (isolated), or
    input groups 0..=j (cumulative)."""
    og = n_out // groups
    mask = torch.zeros(n_out, n_in)
    for o in range(n_out):
        j = o // og
        for i in range(n_in):
            if connectivity == "full":
                mask[o, i] = 1
            else:
                src = i // (n_in // groups)
                mask[o, i] = float(src == j if connectivity == "isolated" else src <= j)
    return mask


def load_from_dense(per_group_weights, dense, mask, og):
    """Copies the masked dense weight into the layer's per-group weights,
    taking group j's input columns from the mask."""
    for j, w in enumerate(per_group_weights):
        cols = mask[j * og].nonzero().flatten()
        assert torch.equal(cols, torch.arange(int(cols[0]), int(cols[-1]) + 1)), "a group reads a contiguous range"
        block = dense[j * og:(j + 1) * og, cols[0]:cols[-1] + 1]
        assert w.shape == block.shape, f"group {j}: layer weight {tuple(w.shape)}, mask gives {tuple(block.shape)}"
        with torch.no_grad():
            w.copy_(block)


CASES = [("full", 3, 8, 4), ("full", 1, 8, 2), ("isolated", 8, 12, 4), ("isolated", 6, 4, 2),
         ("cumulative", 8, 12, 4), ("cumulative", 6, 4, 2)]


@pytest.mark.parametrize("connectivity,cin,cout,groups", CASES)
def test_grouped_conv_matches_masked_dense_conv_at_every_k(connectivity, cin, cout, groups):
    torch.manual_seed(0)
    layer = GroupedConv(cin, cout, 3, 1, groups, connectivity)
    og = cout // groups
    mask = block_mask(connectivity, cout, cin, groups)
    dense = torch.randn(cout, cin, 3, 3) * mask.view(cout, cin, 1, 1)
    load_from_dense([c.weight for c in layer.convs], dense, mask, og)
    with torch.no_grad():
        for bn in layer.norms:
            bn.running_mean.copy_(torch.randn(og))
            bn.running_var.copy_(torch.rand(og) + 0.5)
            bn.weight.copy_(torch.rand(og) + 0.5)
            bn.bias.copy_(torch.randn(og))
    layer.eval()
    rm = torch.cat([bn.running_mean for bn in layer.norms])
    rv = torch.cat([bn.running_var for bn in layer.norms])
    gamma = torch.cat([bn.weight for bn in layer.norms]).detach()
    beta = torch.cat([bn.bias for bn in layer.norms]).detach()
    eps = layer.norms[0].eps
    for k in range(1, groups + 1):
        # What the layer sees inside the network at k (the previous layer's
        # first k groups), and the whole input.
        widths = {cin} if connectivity == "full" else {k * cin // groups, cin}
        for width in widths:
            x = torch.randn(2, width, 6, 6)
            y = F.conv2d(x, dense[:k * og, :width], padding=1)
            want = F.relu((y - rm[:k * og].view(1, -1, 1, 1)) / torch.sqrt(rv[:k * og] + eps).view(1, -1, 1, 1)
                          * gamma[:k * og].view(1, -1, 1, 1) + beta[:k * og].view(1, -1, 1, 1))
            with torch.no_grad():
                got = layer(x, k)
            assert got.shape == want.shape
            torch.testing.assert_close(got, want, atol=1e-5, rtol=1e-5)
            # Batch norm folded into the conv computes the same.
            with torch.no_grad():
                folded = []
                for j in range(k):
                    w, b = layer.folded(j)
                    rows = layer.group_inputs(j)
                    folded.append(F.relu(F.conv2d(x[:, rows.start:rows.stop], w, b, padding=1)))
            torch.testing.assert_close(torch.cat(folded, 1), want, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("connectivity,fin,fout,groups", CASES)
def test_grouped_linear_matches_masked_dense_linear_at_every_k(connectivity, fin, fout, groups):
    torch.manual_seed(1)
    layer = GroupedLinear(fin, fout, groups, connectivity)
    og = fout // groups
    mask = block_mask(connectivity, fout, fin, groups)
    dense = torch.randn(fout, fin) * mask
    bias = torch.randn(fout)
    load_from_dense([fc.weight for fc in layer.fcs], dense, mask, og)
    with torch.no_grad():
        for j, fc in enumerate(layer.fcs):
            fc.bias.copy_(bias[j * og:(j + 1) * og])
    for k in range(1, groups + 1):
        widths = {fin} if connectivity == "full" else {k * fin // groups, fin}
        for width in widths:
            x = torch.randn(3, width)
            want = F.relu(x @ dense[:k * og, :width].t() + bias[:k * og])
            with torch.no_grad():
                got = layer(x, k)
            torch.testing.assert_close(got, want, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("groups", [1, 2, 4])
def test_group_head_is_a_sum_of_slices_plus_bias_k(groups):
    torch.manual_seed(2)
    features, classes = 8, 5
    head = GroupHead(features, classes, groups)
    per = features // groups
    w = torch.cat(list(head.weights), 1)  # classes x features
    for k in range(1, groups + 1):
        h = torch.randn(4, k * per)
        want = h @ w[:, :k * per].t() + head.biases[k - 1]
        with torch.no_grad():
            got = head(h, k)
        torch.testing.assert_close(got, want, atol=1e-5, rtol=1e-5)


def test_group_inputs_per_connectivity():
    assert [GroupedConv(8, 8, 3, 1, 4, "isolated").group_inputs(j) for j in range(4)] == \
        [range(0, 2), range(2, 4), range(4, 6), range(6, 8)]
    assert [GroupedConv(8, 8, 3, 1, 4, "cumulative").group_inputs(j) for j in range(4)] == \
        [range(0, 2), range(0, 4), range(0, 6), range(0, 8)]
    assert [GroupedLinear(6, 4, 2, "full").group_inputs(j) for j in range(2)] == [range(0, 6)] * 2
