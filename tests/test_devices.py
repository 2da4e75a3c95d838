import pytest
import torch

from lsa_utils.devices import device_description, resolve_device


def test_auto_picks_cuda_only_when_present(monkeypatch):
    monkeypatch.delenv("LSA_DEVICE", raising=False)
    expected = "cuda" if torch.cuda.is_available() else "cpu"
    assert resolve_device("auto").type == expected


def test_lsa_device_overrides_auto(monkeypatch):
    monkeypatch.setenv("LSA_DEVICE", "cpu")
    assert resolve_device("auto") == torch.device("cpu")
    assert "cpu" in device_description(resolve_device("cpu"))


def test_unknown_device_names_the_choices():
    with pytest.raises(ValueError, match=r"device='tpu' is not allowed; choose one of: 'auto', 'cpu', 'cuda'"):
        resolve_device("tpu")


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has a GPU")
def test_cuda_without_gpu_fails_early():
    with pytest.raises(ValueError, match="device='cuda' is not allowed on this machine"):
        resolve_device("cuda")


def test_a_bad_lsa_device_is_named_as_such(monkeypatch):
    monkeypatch.setenv("LSA_DEVICE", "gpu")
    with pytest.raises(ValueError, match="LSA_DEVICE='gpu' is not allowed"):
        resolve_device("auto")


def test_memory_budget_follows_the_gpus_free_memory(monkeypatch):
    """On CUDA the budget is a share of the free memory (mocked: no GPU here), so the analytic
    kernel's blocks grow with it; a given budget wins; CPU keeps the fixed default."""
    from lsa_utils import devices
    from lsa_utils.kernels import Dense, Relu, serial

    free = {"bytes": 8 * 1024**3}
    monkeypatch.setattr(torch.cuda, "mem_get_info", lambda device=None: (free["bytes"], 80 * 1024**3))
    cuda = torch.device("cuda")
    assert devices.memory_budget(cuda) == int(devices.GPU_FREE_MEMORY_SHARE * 8 * 1024**3)
    assert devices.memory_budget(cuda, 1234) == 1234
    assert devices.memory_budget(torch.device("cpu")) == devices.DEFAULT_MEMORY_BUDGET
    with pytest.raises(ValueError, match="memory_budget"):
        devices.memory_budget(cuda, 0)
    kernel = serial(Dense(4), Relu(), Dense())
    large = kernel.block_size(1024, 4, cuda)
    free["bytes"] = 8 * 1024**3 // 16
    assert kernel.block_size(1024, 4, cuda) == pytest.approx(large / 4, rel=0.01)  # sqrt of the memory
    assert kernel.block_size(1024, 4, torch.device("cpu")) < large  # the CPU cap (24 MiB per block)
