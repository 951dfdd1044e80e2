"""The Cascade network: K members as one grouped network are K independent members."""

import torch

from nwb_cascade.cascade.network import CascadeNet, GroupedCascadeNet


def _members(count: int, seed: int = 0) -> list[CascadeNet]:
    torch.manual_seed(seed)
    return [CascadeNet() for _ in range(count)]


def test_grouped_outputs_are_each_members_own():
    members = _members(3)
    grouped = GroupedCascadeNet(members)
    x = torch.randn(4, 3, 200)
    out = grouped(x)
    assert out.shape == (4, 3, 200 - 64 + 1)
    for k, member in enumerate(members):
        # the same kernels on the same samples; float32 sums of <= 570 products, grouped differently by
        # the convolution kernels at most
        torch.testing.assert_close(out[:, k], member.forward_trace(x[:, k]), rtol=1e-5, atol=1e-6)


def test_a_summed_loss_gives_each_member_its_own_gradient():
    members = _members(2, seed=1)
    grouped = GroupedCascadeNet(members)
    x, y = torch.randn(8, 2, 191), torch.randn(8, 2, 128)
    ((grouped(x) - y) ** 2).mean(dim=(0, 2)).sum().backward()
    for k, member in enumerate(members):
        ((member.forward_trace(x[:, k]) - y[:, k]) ** 2).mean().backward()
        own = {name: parameter.grad for name, parameter in member.named_parameters()}
        rows = grouped.member_rows("conv2", k)
        torch.testing.assert_close(grouped.weights["conv2"].grad[rows].squeeze(2), own["conv2.weight"],
                                   rtol=1e-4, atol=1e-7)
        torch.testing.assert_close(grouped.biases["dense2"].grad[k:k + 1], own["dense2.bias"], rtol=1e-4, atol=1e-7)


def test_member_state_and_replace_member_round_trip_exactly():
    members = _members(3, seed=2)
    grouped = GroupedCascadeNet(members)
    for k, member in enumerate(members):
        state = grouped.member_state(k)
        assert all(torch.equal(state[key], value) for key, value in member.state_dict().items())
        CascadeNet().load_state_dict(state)  # the published layout
    torch.manual_seed(9)
    fresh = CascadeNet()
    grouped.replace_member(1, fresh)
    assert all(torch.equal(grouped.member_state(1)[key], value) for key, value in fresh.state_dict().items())
    assert all(torch.equal(grouped.member_state(2)[key], value) for key, value in members[2].state_dict().items())
