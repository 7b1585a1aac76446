# Copyright (c) 2025, orcaqueen.swarm maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""GPU parsers of orcaqueen.swarm (module_utils/gpu.py) against tool-output fixtures.

Where the fixtures come from, and that they were written from the documented formats rather
than captured on this machine, is described in docs/gpu.md ("Test fixtures").
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from ansible_collections.orcaqueen.swarm.plugins.module_utils import gpu

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "gpu"


def fixture(name: str) -> str:
    return (FIXTURES / name).read_text()


# --------------------------------------------------------------------------- nvidia-smi -q -x
def test_rtx4090_driver_550() -> None:
    facts = gpu.parse_nvidia_smi_xml(fixture("nvidia-smi-q-x_rtx4090_550.xml"))
    assert facts["source"] == "nvidia-smi" and facts["vendor"] == "nvidia"
    assert facts["count"] == 1 and facts["homogeneous"] is True and facts["driver_loaded"] is True
    assert facts["driver_version"] == "550.107.02" and facts["cuda_driver_version"] == "12.4"
    assert facts["error"] is None
    (device,) = facts["devices"]
    assert device == {
        "index": 0,
        "vendor": "nvidia",
        "name": "NVIDIA GeForce RTX 4090",
        "uuid": "GPU-6f1c9d3e-8a2b-4c5d-9e0f-1a2b3c4d5e6f",
        "pci_bus_id": "00000000:01:00.0",
        "memory_total_mib": 24564,
        # total - reserved - used = free: what CUDA (and vLLM) can still have.
        "memory_reserved_mib": 346,
        "memory_used_mib": 1,
        "memory_free_mib": 24216,
        "compute_capability": "8.9",
        "compute_capability_source": "product name",
        "architecture": "Ada Lovelace",
        "mig_mode": None,
        "mig_devices": [],
        "driver": "nvidia",
    }
    assert facts["memory_total_mib"] == 24564


def test_rtx3080_driver_535() -> None:
    facts = gpu.parse_nvidia_smi_xml(fixture("nvidia-smi-q-x_rtx3080_535.xml"))
    assert facts["driver_version"] == "535.183.01" and facts["cuda_driver_version"] == "12.2"
    (device,) = facts["devices"]
    assert device["name"] == "NVIDIA GeForce RTX 3080"
    assert device["memory_total_mib"] == 10240
    assert device["pci_bus_id"] == "00000000:2B:00.0"
    assert (device["compute_capability"], device["architecture"]) == ("8.6", "Ampere")


def test_h100_sxm_with_mig_driver_570() -> None:
    facts = gpu.parse_nvidia_smi_xml(fixture("nvidia-smi-q-x_h100-sxm-mig_570.xml"))
    assert facts["driver_version"] == "570.86.15" and facts["cuda_driver_version"] == "12.8"
    (device,) = facts["devices"]
    assert device["name"] == "NVIDIA H100 80GB HBM3"
    assert device["mig_mode"] == "Enabled"
    # The GPU's own framebuffer, not the MIG slices' (which also have <fb_memory_usage>).
    assert device["memory_total_mib"] == 81559
    assert (device["compute_capability"], device["architecture"]) == ("9.0", "Hopper")


def test_two_gpu_box_driver_560() -> None:
    facts = gpu.parse_nvidia_smi_xml(fixture("nvidia-smi-q-x_2x-rtx3090_560.xml"))
    assert facts["count"] == 2 and facts["homogeneous"] is True
    assert [d["index"] for d in facts["devices"]] == [0, 1]
    assert [d["pci_bus_id"] for d in facts["devices"]] == ["00000000:01:00.0", "00000000:02:00.0"]
    assert facts["memory_total_mib"] == 2 * 24576
    assert len({d["uuid"] for d in facts["devices"]}) == 2


def test_heterogeneous_devices() -> None:
    one = gpu.parse_nvidia_smi_xml(fixture("nvidia-smi-q-x_rtx4090_550.xml"))
    other = gpu.parse_nvidia_smi_xml(fixture("nvidia-smi-q-x_rtx3080_535.xml"))
    merged = gpu.empty_facts()
    merged["devices"] = one["devices"] + other["devices"]
    assert gpu.finish(merged)["homogeneous"] is False


def test_missing_elements_become_none() -> None:
    """An older/newer DTD without some elements must not crash the parser."""
    xml = (
        '<?xml version="1.0" ?>\n<!DOCTYPE nvidia_smi_log SYSTEM "nvsmi_device_v11.dtd">\n'
        "<nvidia_smi_log><driver_version>470.256.02</driver_version>"
        '<gpu id="00000000:03:00.0"><product_name>Tesla T4</product_name></gpu></nvidia_smi_log>'
    )
    facts = gpu.parse_nvidia_smi_xml(xml)
    (device,) = facts["devices"]
    assert facts["cuda_driver_version"] is None
    assert device["uuid"] is None and device["memory_total_mib"] is None and device["mig_mode"] is None
    assert device["pci_bus_id"] == "00000000:03:00.0"  # from the id attribute
    assert (device["compute_capability"], device["architecture"]) == ("7.5", "Turing")


@pytest.mark.parametrize("text", ["", "Failed to initialize NVML: Unknown Error", "<other/>", "<nvidia_smi_log>"])
def test_bad_xml_is_a_value_error(text: str) -> None:
    with pytest.raises(ValueError, match="nvidia-smi"):
        gpu.parse_nvidia_smi_xml(text)


def test_driver_library_mismatch_message() -> None:
    message = gpu.parse_nvidia_smi_failure(18, fixture("nvidia-smi_driver-mismatch.txt"), "")
    assert "Driver/library version mismatch" in message and "reboot" in message and "rc=18" in message


def test_no_driver_message() -> None:
    message = gpu.parse_nvidia_smi_failure(9, fixture("nvidia-smi_no-driver.txt"), "")
    assert "couldn't communicate with the NVIDIA driver" in message and "not loaded" in message


# --------------------------------------------------------------------------- lspci
def test_lspci_nvidia_without_driver() -> None:
    facts = gpu.parse_lspci(fixture("lspci-nnk_rtx3080-no-driver.txt"))
    assert facts["source"] == "lspci" and facts["vendor"] == "nvidia" and facts["count"] == 1
    assert facts["driver_loaded"] is False and "nvidia driver" in facts["error"]
    (device,) = facts["devices"]
    assert device["pci_bus_id"] == "0000:2B:00.0" and device["pci_id"] == "10de:2206"
    assert device["name"] == "NVIDIA Corporation GA102 [GeForce RTX 3080]"
    assert device["driver"] is None  # only "Kernel modules: nouveau", nothing in use
    assert (device["compute_capability"], device["architecture"]) == ("8.6", "Ampere")
    assert device["memory_total_mib"] is None


def test_lspci_nn_without_k_lines() -> None:
    facts = gpu.parse_lspci(fixture("lspci-nn_rtx4090.txt"))
    # The Intel iGPU (8086) is not counted; the audio function of the card is not a display class.
    assert facts["count"] == 1 and facts["devices"][0]["pci_id"] == "10de:2684"
    assert facts["devices"][0]["architecture"] == "Ada Lovelace"
    assert facts["driver_loaded"] is False


def test_lspci_amd_with_amdgpu() -> None:
    facts = gpu.parse_lspci(fixture("lspci-nnk_amd-rx7900xtx.txt"))
    assert facts["vendor"] == "amd" and facts["count"] == 2
    assert facts["driver_loaded"] is True and facts["error"] is None
    assert [d["pci_id"] for d in facts["devices"]] == ["1002:744c", "1002:164e"]
    assert all(d["driver"] == "amdgpu" and d["compute_capability"] is None for d in facts["devices"])
    assert facts["homogeneous"] is False


def test_aarch64_vm_has_no_gpu() -> None:
    facts = gpu.parse_lspci(fixture("lspci-nnk_aarch64-kvm.txt"))
    # The virtio display controller (1af4) is not a compute GPU.
    assert facts["count"] == 0 and facts["vendor"] == "none" and facts["devices"] == []
    assert facts["driver_loaded"] is False and facts["error"] is None


def test_empty_lspci() -> None:
    assert gpu.parse_lspci("")["count"] == 0


# --------------------------------------------------------------------------- tables
@pytest.mark.parametrize(
    ("name", "capability", "architecture"),
    [
        ("NVIDIA A100-SXM4-80GB", "8.0", "Ampere"),
        ("NVIDIA A10", "8.6", "Ampere"),
        ("NVIDIA RTX A6000", "8.6", "Ampere"),
        ("NVIDIA RTX 6000 Ada Generation", "8.9", "Ada Lovelace"),
        ("NVIDIA L40S", "8.9", "Ada Lovelace"),
        ("NVIDIA L4", "8.9", "Ada Lovelace"),
        ("NVIDIA H100 PCIe", "9.0", "Hopper"),
        ("NVIDIA H200", "9.0", "Hopper"),
        ("NVIDIA GH200 480GB", "9.0", "Hopper"),
        ("NVIDIA B200", "10.0", "Blackwell"),
        ("NVIDIA GeForce RTX 5090", "12.0", "Blackwell"),
        ("NVIDIA RTX PRO 6000 Blackwell Workstation Edition", "12.0", "Blackwell"),
        ("Tesla T4", "7.5", "Turing"),
        ("NVIDIA GeForce RTX 2080 Ti", "7.5", "Turing"),
        ("Tesla V100-SXM2-32GB", "7.0", "Volta"),
        ("NVIDIA GeForce GTX 1080 Ti", "6.1", "Pascal"),
        ("Some Future GPU", None, None),
    ],
)
def test_product_table(name: str, capability: str | None, architecture: str | None) -> None:
    assert gpu.compute_capability_for_product(name) == capability
    assert gpu.architecture_for(capability) == architecture


def test_cuda_version_from_int() -> None:
    assert gpu.cuda_version_from_int(12040) == "12.4"
    assert gpu.cuda_version_from_int(12080) == "12.8"
    assert gpu.cuda_version_from_int(0) is None


# --------------------------------------------------------------------------- NVML (stand-in)
class FakeNVMLError(Exception):
    def __init__(self, value: int) -> None:
        super().__init__(
            {
                18: "Driver/library version mismatch",
                9: "Driver Not Loaded",
                12: "NVML Shared Library Not Found",
                3: "Not Supported",
            }.get(value, "Unknown Error")
        )
        self.value = value


class FakeNVML:
    """Mirrors the pynvml API (nvidia-ml-py) the collector uses; error codes are NVML's own."""

    NVMLError = FakeNVMLError
    NVML_ERROR_NOT_SUPPORTED = 3
    NVML_ERROR_DRIVER_NOT_LOADED = 9
    NVML_ERROR_LIBRARY_NOT_FOUND = 12
    NVML_ERROR_FUNCTION_NOT_FOUND = 13
    NVML_ERROR_LIB_RM_VERSION_MISMATCH = 18

    def __init__(self, devices: list[dict[str, Any]] | None = None, init_error: int | None = None) -> None:
        self.devices = devices or []
        self.init_error = init_error
        self.shutdown = False

    def nvmlInit(self) -> None:
        if self.init_error is not None:
            raise FakeNVMLError(self.init_error)

    def nvmlShutdown(self) -> None:
        self.shutdown = True

    def nvmlSystemGetDriverVersion(self) -> str:
        return "550.107.02"

    def nvmlSystemGetCudaDriverVersion(self) -> int:
        return 12040

    def nvmlDeviceGetCount(self) -> int:
        return len(self.devices)

    def nvmlDeviceGetHandleByIndex(self, index: int) -> dict[str, Any]:
        return self.devices[index]

    def nvmlDeviceGetName(self, handle: dict[str, Any]) -> str:
        return handle["name"]

    def nvmlDeviceGetUUID(self, handle: dict[str, Any]) -> str:
        return handle["uuid"]

    def nvmlDeviceGetPciInfo(self, handle: dict[str, Any]) -> Any:
        return type("PciInfo", (), {"busId": handle["bus"]})()

    def nvmlDeviceGetMemoryInfo(self, handle: dict[str, Any]) -> Any:
        return type("Memory", (), {"total": handle["mib"] * 1024 * 1024})()

    def nvmlDeviceGetCudaComputeCapability(self, handle: dict[str, Any]) -> tuple[int, int]:
        return handle["cc"]

    def nvmlDeviceGetMigMode(self, handle: dict[str, Any]) -> list[int]:
        if handle.get("mig") is None:
            raise FakeNVMLError(self.NVML_ERROR_NOT_SUPPORTED)
        return [handle["mig"], handle["mig"]]


def test_nvml_devices() -> None:
    nvml = FakeNVML(
        [
            {"name": "NVIDIA GeForce RTX 4090", "uuid": "GPU-1", "bus": "00000000:01:00.0", "mib": 24564, "cc": (8, 9)},
            {
                "name": "NVIDIA H100 80GB HBM3",
                "uuid": "GPU-2",
                "bus": b"00000000:18:00.0",
                "mib": 81559,
                "cc": (9, 0),
                "mig": 1,
            },
        ]
    )
    facts = gpu.collect_nvml(nvml)
    assert facts["source"] == "nvml" and facts["count"] == 2 and facts["homogeneous"] is False
    assert facts["cuda_driver_version"] == "12.4" and facts["driver_loaded"] is True
    first, second = facts["devices"]
    assert (first["compute_capability"], first["architecture"], first["mig_mode"]) == ("8.9", "Ada Lovelace", None)
    assert (second["pci_bus_id"], second["mig_mode"], second["architecture"]) == (
        "00000000:18:00.0",
        "Enabled",
        "Hopper",
    )
    assert nvml.shutdown is True


def test_nvml_version_mismatch_is_a_fact() -> None:
    facts = gpu.collect_nvml(FakeNVML(init_error=18))
    assert facts["count"] == 0 and facts["driver_loaded"] is False
    assert facts["error"].startswith("Failed to initialize NVML: Driver/library version mismatch")


def test_nvml_driver_not_loaded_is_a_fact() -> None:
    facts = gpu.collect_nvml(FakeNVML(init_error=9))
    assert "not loaded" in facts["error"]


def test_nvml_library_missing_means_next_source() -> None:
    with pytest.raises(gpu.NvmlUnavailable):
        gpu.collect_nvml(FakeNVML(init_error=12))


def test_real_pynvml_constants_match_the_stand_in() -> None:
    pynvml = pytest.importorskip("pynvml")
    for name in (
        "NVML_ERROR_NOT_SUPPORTED",
        "NVML_ERROR_DRIVER_NOT_LOADED",
        "NVML_ERROR_LIBRARY_NOT_FOUND",
        "NVML_ERROR_FUNCTION_NOT_FOUND",
        "NVML_ERROR_LIB_RM_VERSION_MISMATCH",
    ):
        assert getattr(pynvml, name) == getattr(FakeNVML, name), name


def test_real_pynvml_without_library_is_unavailable() -> None:
    """On this host (no libnvidia-ml) the real nvidia-ml-py raises LIBRARY_NOT_FOUND."""
    pynvml = pytest.importorskip("pynvml")
    try:
        facts = gpu.collect_nvml(pynvml)
    except gpu.NvmlUnavailable:
        return
    assert facts["source"] == "nvml"  # a host with a driver: facts, never an exception
