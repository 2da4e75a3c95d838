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
