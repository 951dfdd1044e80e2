"""Devices: one rule for every computation, and one line for a device that is not there."""

import pytest
import torch

from nwb_cascade.common.device import DeviceError, resolve_device


def test_no_device_means_cuda_when_present_else_cpu():
    assert resolve_device(None).type == ("cuda" if torch.cuda.is_available() else "cpu")
    assert resolve_device("cpu") == torch.device("cpu")


@pytest.mark.parametrize(("name", "message"), [
    ("foo", "'foo' is not a device: use cpu, cuda"),
    ("cuda:99", "cuda:99"),
    ("meta", "is not supported here"),
])
def test_unknown_or_absent_devices_are_one_line(name, message):
    with pytest.raises(DeviceError, match=message) as caught:
        resolve_device(name)
    assert "\n" not in str(caught.value)


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has a CUDA GPU")
def test_cuda_without_a_gpu_says_to_use_the_cpu():
    with pytest.raises(DeviceError, match="sees no CUDA GPU.*--device cpu"):
        resolve_device("cuda")
