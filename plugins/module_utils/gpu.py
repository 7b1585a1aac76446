# Copyright (c) 2025, orcaqueen.swarm maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""GPU detection for orcaqueen.swarm: pure parsers, no AnsibleModule.

Three sources, tried in this order by the gpu_facts module:

1. NVML through ``nvidia-ml-py`` (``import pynvml``) - :func:`collect_nvml`;
2. ``nvidia-smi -q -x`` (XML, DTD ``nvsmi_device_v12.dtd`` for drivers 535..570) -
   :func:`parse_nvidia_smi_xml`, :func:`parse_nvidia_smi_failure`;
3. ``lspci -nnk`` (or ``-nn``) for NVIDIA (10de) / AMD (1002) display and 3D controllers -
   :func:`parse_lspci`.

Every parser returns the same fact dictionary (see :func:`empty_facts`); anything a given
driver version does not report becomes ``None``. A driver that cannot be reached is a fact
(``error``), never an exception.
"""

from __future__ import annotations

import contextlib
import re
import typing as t
import xml.etree.ElementTree as ET

Facts = dict[str, t.Any]
Device = dict[str, t.Any]

SOURCES = ("nvml", "nvidia-smi", "lspci")

# CUDA compute capability -> architecture name.
ARCH_BY_COMPUTE_CAPABILITY: dict[str, str] = {
    "3.0": "Kepler",
    "3.5": "Kepler",
    "3.7": "Kepler",
    "5.0": "Maxwell",
    "5.2": "Maxwell",
    "5.3": "Maxwell",
    "6.0": "Pascal",
    "6.1": "Pascal",
    "6.2": "Pascal",
    "7.0": "Volta",
    "7.2": "Volta",
    "7.5": "Turing",
    "8.0": "Ampere",
    "8.6": "Ampere",
    "8.7": "Ampere",
    "8.9": "Ada Lovelace",
    "9.0": "Hopper",
    "10.0": "Blackwell",
    "10.3": "Blackwell",
    "11.0": "Blackwell",
    "12.0": "Blackwell",
    "12.1": "Blackwell",
}

# The lowest compute capability of each architecture. When nvidia-smi names the architecture
# (<product_architecture>, drivers 450+) and the product table has nothing that agrees with it,
# the device gets this: the rules built on the capability (dtype, kernels, vLLM's minimum) then err
# on the safe side.
ARCH_MIN_CAPABILITY: dict[str, str] = {
    "Kepler": "3.0",
    "Maxwell": "5.0",
    "Pascal": "6.0",
    "Volta": "7.0",
    "Turing": "7.5",
    "Ampere": "8.0",
    "Ada Lovelace": "8.9",
    "Hopper": "9.0",
    "Blackwell": "10.0",
}

# Product name -> compute capability, for sources that report no capability (nvidia-smi XML,
# lspci): the last resort after NVML and nvidia-smi's own architecture. First match wins, so the
# more specific patterns come first. Matched case-insensitively against the marketing name
# (``NVIDIA GeForce RTX 4090``, ``NVIDIA H100 80GB HBM3``, ``Tesla V100S-PCIE-32GB``, ...).
COMPUTE_CAPABILITY_BY_PRODUCT: tuple[tuple[str, str], ...] = (
    (r"\bGB(200|300)\b|\bB(100|200|300)\b", "10.0"),
    (r"\bRTX (PRO )?\d+ Blackwell\b|\bGeForce RTX 50\d0\b", "12.0"),
    (r"\bGH200\b|\bH(100|200|800|20)\b", "9.0"),
    (r"\bRTX \d+ Ada\b|\bRTX 40\d0\b|\bL4\b|\bL40S?\b|\bL20\b", "8.9"),
    (r"\bA(100|800|30)\b", "8.0"),
    (r"\bRTX 30\d0\b|\bRTX A\d+\b|\bA(2|10|10G|16|40)\b", "8.6"),
    (r"\bRTX 20\d0\b|\bGTX 16\d0\b|\bQuadro RTX\b|\bT4\b|\bTITAN RTX\b", "7.5"),
    (r"\bV100S?\b|\bTITAN V\b|\bQuadro GV100\b", "7.0"),
    (r"\bP100\b|\bQuadro GP100\b", "6.0"),
    (r"\bG(T|TX) 10\d0\b|\bP(4|40|6)\b|\bTITAN Xp?\b|\bQuadro P\d+\b", "6.1"),
    (r"\bM(40|60|6|10)\b|\bGTX (9[5-8]0|TITAN X)\b|\bQuadro M\d+\b", "5.2"),
    (r"\bK80\b", "3.7"),
    (r"\bK(20|40)[mcsx]?\b|\bGTX TITAN\b", "3.5"),
)
# Spellings of <product_architecture> -> the names above.
_ARCH_ALIASES = {"ada": "Ada Lovelace", "ada lovelace": "Ada Lovelace"}

# PCI vendor ids we look for with lspci.
PCI_VENDORS = {"10de": "nvidia", "1002": "amd"}
# Kernel drivers that make a device usable for compute (lspci -k "Kernel driver in use").
COMPUTE_DRIVERS = {"nvidia": "nvidia", "amd": "amdgpu"}
# PCI classes: 0300 VGA compatible controller, 0302 3D controller, 0380 Display controller.
PCI_DISPLAY_CLASSES = ("0300", "0302", "0380")

_LSPCI_LINE = re.compile(
    r"^(?P<slot>(?:[0-9a-fA-F]{4}:)?[0-9a-fA-F]{2}:[0-9a-fA-F]{2}\.[0-7])\s+"
    r"(?P<class_name>[^\[]*?)\s*\[(?P<class>[0-9a-fA-F]{4})\]:\s+"
    r"(?P<desc>.*?)\s*\[(?P<vendor>[0-9a-fA-F]{4}):(?P<device>[0-9a-fA-F]{4})\]"
    r"(?:\s*\(rev [0-9a-fA-F]+\))?\s*$"
)
_MIB = re.compile(r"^\s*(\d+)\s*MiB\s*$")


def empty_facts() -> Facts:
    """The fact dictionary with nothing found."""
    return {
        "vendor": "none",
        "count": 0,
        "devices": [],
        "memory_total_mib": 0,
        "driver_version": None,
        "cuda_driver_version": None,
        "homogeneous": True,
        "driver_loaded": False,
        "source": "none",
        "error": None,
        # An NVIDIA GPU or NVIDIA stack is on the host but cannot be used (the driver fails, or no
        # driver is bound to a card on the PCI bus): site.yml stops rather than serve on the CPU.
        "nvidia_unusable": False,
    }


def architecture_for(compute_capability: str | None) -> str | None:
    """Architecture name for a compute capability such as ``"8.9"``; None when unknown."""
    if compute_capability is None:
        return None
    return ARCH_BY_COMPUTE_CAPABILITY.get(compute_capability)


def normalise_architecture(name: str | None) -> str | None:
    """nvidia-smi's <product_architecture> as one of the names of ARCH_MIN_CAPABILITY (None if unknown)."""
    if not name:
        return None
    name = name.strip()
    for known in ARCH_MIN_CAPABILITY:
        if name.lower() == known.lower():
            return known
    return _ARCH_ALIASES.get(name.lower())


def compute_capability_for_product(name: str | None) -> str | None:
    """Compute capability guessed from a product name; None when the name is not in the table."""
    if not name:
        return None
    for pattern, capability in COMPUTE_CAPABILITY_BY_PRODUCT:
        if re.search(pattern, name, re.IGNORECASE):
            return capability
    return None


def cuda_version_from_int(value: int | None) -> str | None:
    """NVML reports the CUDA driver version as 1000 * major + 10 * minor (12040 -> "12.4")."""
    if not value:
        return None
    return f"{value // 1000}.{(value % 1000) // 10}"


def make_device(
    index: int,
    name: str | None,
    *,
    vendor: str = "nvidia",
    uuid: str | None = None,
    pci_bus_id: str | None = None,
    memory_total_mib: int | None = None,
    memory_reserved_mib: int | None = None,
    memory_used_mib: int | None = None,
    memory_free_mib: int | None = None,
    compute_capability: str | None = None,
    architecture: str | None = None,
    mig_mode: str | None = None,
    mig_devices: list[dict[str, t.Any]] | None = None,
    driver: str | None = None,
) -> Device:
    """One device entry.

    Compute capability, best source first: the driver's (NVML); the product table when it agrees with
    the architecture nvidia-smi reports (or nvidia-smi reports none); else the lowest capability of that
    architecture. The architecture nvidia-smi reports is kept as it is.
    """
    source = "driver" if compute_capability else None
    arch = normalise_architecture(architecture)
    if compute_capability is None and vendor == "nvidia":
        guess = compute_capability_for_product(name)
        if guess is not None and (arch is None or architecture_for(guess) == arch):
            compute_capability, source = guess, "product name"
        elif arch is not None:
            compute_capability, source = ARCH_MIN_CAPABILITY[arch], "architecture"
    return {
        "index": index,
        "vendor": vendor,
        "name": name,
        "uuid": uuid,
        "pci_bus_id": pci_bus_id,
        "memory_total_mib": memory_total_mib,
        "memory_reserved_mib": memory_reserved_mib,
        "memory_used_mib": memory_used_mib,
        "memory_free_mib": memory_free_mib,
        "compute_capability": compute_capability,
        "compute_capability_source": source,
        "architecture": arch or architecture_for(compute_capability) or architecture,
        "mig_mode": mig_mode,
        "mig_devices": mig_devices or [],
        "driver": driver,
    }


def _same_card(a: Device, b: Device) -> bool:
    """Same vendor and name, memory within 1 % (two boards of one model differ by a few MiB)."""
    if (a["vendor"], a["name"]) != (b["vendor"], b["name"]):
        return False
    ma, mb = a["memory_total_mib"], b["memory_total_mib"]
    if ma is None or mb is None:
        return ma == mb
    return abs(ma - mb) <= 0.01 * max(ma, mb)


def finish(facts: Facts) -> Facts:
    """Fill the summary fields (count, vendor, memory, homogeneous) from ``devices``."""
    devices = facts["devices"]
    facts["count"] = len(devices)
    vendors = sorted({d["vendor"] for d in devices})
    facts["vendor"] = vendors[0] if len(vendors) == 1 else ("mixed" if vendors else "none")
    facts["memory_total_mib"] = sum(d["memory_total_mib"] or 0 for d in devices)
    facts["homogeneous"] = all(_same_card(devices[0], d) for d in devices[1:])
    return facts


# --------------------------------------------------------------------------- nvidia-smi -q -x
def _text(node: ET.Element | None, path: str) -> str | None:
    """Text of ``path`` under ``node``; None when missing, empty or ``N/A``."""
    if node is None:
        return None
    found = node.find(path)
    if found is None or found.text is None:
        return None
    value = found.text.strip()
    if not value or value.lower() in ("n/a", "[n/a]", "not supported", "[not supported]", "not found", "unknown error"):
        return None
    return value


def _mib(value: str | None) -> int | None:
    if value is None:
        return None
    match = _MIB.match(value)
    return int(match.group(1)) if match else None


def _normalise_bus_id(value: str | None) -> str | None:
    """nvidia-smi prints ``00000000:01:00.0`` (32-bit domain); keep it, upper-cased like NVML."""
    return value.upper() if value else None


def _as_text(output: str | bytes) -> str:
    """nvidia-smi's output as text. It can hold bytes that are not UTF-8 (process names, written
    while another process changes them): those become U+FFFD instead of spoiling the document."""
    if isinstance(output, bytes):
        return output.decode("utf-8", errors="replace")
    # Ansible decodes command output with surrogateescape: turn those escapes into U+FFFD too.
    return output.encode("utf-8", errors="surrogateescape").decode("utf-8", errors="replace")


def _memory(node: ET.Element | None) -> dict[str, int | None]:
    """total/reserved/used/free MiB of a <fb_memory_usage> (reserved only from driver 510 on)."""
    return {key: _mib(_text(node, f"fb_memory_usage/{key}")) for key in ("total", "reserved", "used", "free")}


def _mig_devices(gpu: ET.Element) -> list[dict[str, t.Any]]:
    """The MIG slices (<mig_devices>) of a GPU in MIG mode, each with its own memory."""
    slices = []
    for position, mig in enumerate(gpu.findall("mig_devices/mig_device")):
        memory = _memory(mig)
        index = _text(mig, "index")
        slices.append(
            {
                "index": int(index) if index and index.isdigit() else position,
                "gpu_instance_id": _text(mig, "gpu_instance_id"),
                "compute_instance_id": _text(mig, "compute_instance_id"),
                "multiprocessor_count": _text(mig, "device_attributes/shared/multiprocessor_count"),
                "memory_total_mib": memory["total"],
                "memory_used_mib": memory["used"],
                "memory_free_mib": memory["free"],
            }
        )
    return slices


def parse_nvidia_smi_xml(xml_text: str | bytes) -> Facts:
    """Facts from the output of ``nvidia-smi -q -x``.

    Raises ValueError when the text is not an ``nvidia_smi_log`` document (the caller turns that
    into an ``error`` fact). Elements missing in a given driver version become None. A document
    whose <attached_gpus> differs from the GPUs it lists gets an ``error`` fact.
    """
    # The document names an external DTD (<!DOCTYPE nvidia_smi_log SYSTEM "nvsmi_device_v12.dtd">);
    # ElementTree does not fetch it, and it declares no entities we need.
    try:
        root = ET.fromstring(_as_text(xml_text).strip())
    except ET.ParseError as exc:
        raise ValueError(f"nvidia-smi printed no valid XML ({exc})") from exc
    if root.tag != "nvidia_smi_log":
        raise ValueError(f"nvidia-smi XML has root <{root.tag}>, expected <nvidia_smi_log>")
    facts = empty_facts()
    facts["source"] = "nvidia-smi"
    facts["driver_loaded"] = True
    facts["driver_version"] = _text(root, "driver_version")
    facts["cuda_driver_version"] = _text(root, "cuda_version")
    for position, gpu in enumerate(root.findall("gpu")):
        # nvidia-smi lists GPUs in PCI bus order, which is also NVML's index order.
        index = position
        bus_id = _text(gpu, "pci/pci_bus_id") or gpu.get("id")
        mig = _text(gpu, "mig_mode/current_mig")
        memory = _memory(gpu)
        facts["devices"].append(
            make_device(
                index,
                _text(gpu, "product_name"),
                uuid=_text(gpu, "uuid"),
                pci_bus_id=_normalise_bus_id(bus_id),
                memory_total_mib=memory["total"],
                memory_reserved_mib=memory["reserved"],
                memory_used_mib=memory["used"],
                memory_free_mib=memory["free"],
                # Not in the XML of the drivers we know; read it should a later DTD add it.
                compute_capability=_text(gpu, "compute_cap"),
                architecture=_text(gpu, "product_architecture"),
                mig_mode=mig,
                mig_devices=_mig_devices(gpu) if mig == "Enabled" else [],
                driver="nvidia",
            )
        )
    finish(facts)
    attached = _text(root, "attached_gpus")
    if attached is not None and attached.isdigit() and int(attached) != facts["count"]:
        facts["error"] = (
            f"nvidia-smi reports {attached} attached GPU(s) but describes {facts['count']}: a GPU the driver "
            "lost or cannot query (see `nvidia-smi` and the kernel log for Xid errors)"
        )
        facts["nvidia_unusable"] = True
    return facts


def parse_nvidia_smi_failure(rc: int, stdout: str, stderr: str) -> str:
    """A one-line error fact for a failed ``nvidia-smi`` run (driver mismatch, no driver, ...)."""
    text = " ".join(line.strip() for line in (stdout + "\n" + stderr).splitlines() if line.strip())
    if "version mismatch" in text.lower():
        return (
            f"nvidia-smi: {text} (rc={rc}): the loaded kernel module and the user-space NVIDIA "
            "library differ, usually after a driver upgrade without a reboot; reboot the host "
            "or reload the nvidia kernel modules"
        )
    if "couldn't communicate with the nvidia driver" in text.lower() or rc == 9:
        return f"nvidia-smi: {text or 'NVIDIA driver is not loaded'} (rc={rc}): the nvidia kernel module is not loaded"
    if "gpu is lost" in text.lower() or rc == 15:
        return (
            f"nvidia-smi: {text or 'a GPU is lost'} (rc={rc}): the GPU fell off the bus or the driver lost it; "
            "see the kernel log (Xid 79) - a reboot, and if it recurs power, cooling or the PCIe slot"
        )
    if rc in (124, 137):
        return (
            f"nvidia-smi did not answer within the module's timeout (rc={rc}, killed): the driver is hung or "
            "busy; see the kernel log for Xid errors"
        )
    return f"nvidia-smi failed (rc={rc}): {text or 'no output'}"


# --------------------------------------------------------------------------- lspci
def parse_lspci(text: str) -> Facts:
    """Facts from ``lspci -nnk`` (or ``lspci -nn``): NVIDIA and AMD display/3D controllers.

    With ``-k`` the ``Kernel driver in use`` line tells whether the vendor's compute driver
    (nvidia, amdgpu) is bound; ``driver_loaded`` is true only when it is bound to every device.
    """
    facts = empty_facts()
    facts["source"] = "lspci"
    current: Device | None = None
    drivers: list[str | None] = []
    for raw in text.splitlines():
        if raw[:1] in (" ", "\t"):
            if current is not None:
                key, _sep, value = raw.strip().partition(":")
                if key == "Kernel driver in use":
                    drivers[-1] = value.strip()
            continue
        current = None
        match = _LSPCI_LINE.match(raw.strip())
        if not match or match.group("class").lower() not in PCI_DISPLAY_CLASSES:
            continue
        vendor = PCI_VENDORS.get(match.group("vendor").lower())
        if vendor is None:
            continue
        slot = match.group("slot")
        if slot.count(":") == 1:
            slot = "0000:" + slot
        current = make_device(
            len(facts["devices"]),
            match.group("desc"),
            vendor=vendor,
            pci_bus_id=slot.upper(),
        )
        current["pci_id"] = f"{match.group('vendor').lower()}:{match.group('device').lower()}"
        facts["devices"].append(current)
        drivers.append(None)
    for device, driver in zip(facts["devices"], drivers, strict=True):
        device["driver"] = driver
    finish(facts)
    if facts["devices"]:
        facts["driver_loaded"] = all(d["driver"] == COMPUTE_DRIVERS[d["vendor"]] for d in facts["devices"])
        if not facts["driver_loaded"]:
            missing = sorted(
                {COMPUTE_DRIVERS[d["vendor"]] for d in facts["devices"] if d["driver"] != COMPUTE_DRIVERS[d["vendor"]]}
            )
            facts["error"] = (
                f"{facts['count']} GPU(s) found on the PCI bus but the {'/'.join(missing)} driver is not "
                "in use for every one of them; install and load the vendor driver"
            )
    return facts


# --------------------------------------------------------------------------- NVML
class NvmlUnavailable(Exception):
    """NVML cannot be used at all (library not installed): try the next source."""


def _decode(value: t.Any) -> t.Any:
    return value.decode() if isinstance(value, bytes) else value


def collect_nvml(nvml: t.Any) -> Facts:
    """Facts through the ``pynvml`` module given as ``nvml`` (so tests can pass a stand-in).

    Raises NvmlUnavailable when libnvidia-ml is not installed (try the next source). A driver
    that is not loaded or does not match the library is returned as an ``error`` fact.
    """
    facts = empty_facts()
    facts["source"] = "nvml"
    try:
        nvml.nvmlInit()
    except nvml.NVMLError as exc:
        code = getattr(exc, "value", None)
        if code == getattr(nvml, "NVML_ERROR_LIBRARY_NOT_FOUND", -1):
            raise NvmlUnavailable(str(exc)) from exc
        message = str(exc)
        if code == getattr(nvml, "NVML_ERROR_LIB_RM_VERSION_MISMATCH", -2):
            facts["error"] = (
                f"Failed to initialize NVML: {message}: the loaded kernel module and the user-space "
                "NVIDIA library differ, usually after a driver upgrade without a reboot; reboot the "
                "host or reload the nvidia kernel modules"
            )
        elif code == getattr(nvml, "NVML_ERROR_DRIVER_NOT_LOADED", -3):
            facts["error"] = f"Failed to initialize NVML: {message}: the nvidia kernel module is not loaded"
        else:
            facts["error"] = f"Failed to initialize NVML: {message}"
        return facts
    try:
        facts["driver_loaded"] = True
        facts["driver_version"] = _decode(nvml.nvmlSystemGetDriverVersion())
        facts["cuda_driver_version"] = cuda_version_from_int(_optional(nvml, nvml.nvmlSystemGetCudaDriverVersion))
        for index in range(nvml.nvmlDeviceGetCount()):
            handle = nvml.nvmlDeviceGetHandleByIndex(index)
            capability = _optional(nvml, nvml.nvmlDeviceGetCudaComputeCapability, handle)
            mig = _optional(nvml, nvml.nvmlDeviceGetMigMode, handle)
            memory = _memory_info(nvml, handle)
            pci = _optional(nvml, nvml.nvmlDeviceGetPciInfo, handle)
            facts["devices"].append(
                make_device(
                    index,
                    _decode(nvml.nvmlDeviceGetName(handle)),
                    uuid=_decode(_optional(nvml, nvml.nvmlDeviceGetUUID, handle)),
                    pci_bus_id=_normalise_bus_id(_decode(pci.busId)) if pci is not None else None,
                    memory_total_mib=_nvml_mib(memory, "total"),
                    memory_reserved_mib=_nvml_mib(memory, "reserved"),
                    memory_used_mib=_nvml_mib(memory, "used"),
                    memory_free_mib=_nvml_mib(memory, "free"),
                    compute_capability=f"{capability[0]}.{capability[1]}" if capability else None,
                    mig_mode=("Enabled" if mig[0] else "Disabled") if mig else None,
                    mig_devices=_nvml_mig_devices(nvml, handle) if mig and mig[0] else [],
                    driver="nvidia",
                )
            )
    except nvml.NVMLError as exc:
        facts["error"] = f"NVML query failed: {exc}"
    finally:
        with contextlib.suppress(nvml.NVMLError):
            nvml.nvmlShutdown()
    return finish(facts)


def _memory_info(nvml: t.Any, handle: t.Any) -> t.Any:
    """nvmlMemory_v2 (with the driver-reserved memory) where the binding and driver have it, else v1."""
    v2 = getattr(nvml, "nvmlMemory_v2", None)
    if v2 is not None:
        try:
            return nvml.nvmlDeviceGetMemoryInfo(handle, version=v2)
        except (TypeError, nvml.NVMLError):
            pass
    return _optional(nvml, nvml.nvmlDeviceGetMemoryInfo, handle)


def _nvml_mig_devices(nvml: t.Any, handle: t.Any) -> list[dict[str, t.Any]]:
    """The MIG slices of a GPU in MIG mode through NVML (empty where the binding cannot list them)."""
    if not hasattr(nvml, "nvmlDeviceGetMaxMigDeviceCount"):
        return []
    slices = []
    for position in range(_optional(nvml, nvml.nvmlDeviceGetMaxMigDeviceCount, handle) or 0):
        try:
            mig = nvml.nvmlDeviceGetMigDeviceHandleByIndex(handle, position)
        except nvml.NVMLError:
            continue  # no slice at this position
        memory = _optional(nvml, nvml.nvmlDeviceGetMemoryInfo, mig)
        slices.append(
            {
                "index": position,
                "gpu_instance_id": str(_optional(nvml, nvml.nvmlDeviceGetGpuInstanceId, mig)),
                "compute_instance_id": str(_optional(nvml, nvml.nvmlDeviceGetComputeInstanceId, mig)),
                "multiprocessor_count": None,
                "memory_total_mib": _nvml_mib(memory, "total"),
                "memory_used_mib": _nvml_mib(memory, "used"),
                "memory_free_mib": _nvml_mib(memory, "free"),
            }
        )
    return slices


def _nvml_mib(memory: t.Any, field: str) -> int | None:
    """A field of nvmlMemory_t (v2 adds ``reserved``) in MiB; None when absent."""
    value = getattr(memory, field, None) if memory is not None else None
    return int(value) // (1024 * 1024) if value is not None else None


def _optional(nvml: t.Any, func: t.Callable[..., t.Any], *args: t.Any) -> t.Any:
    """Call an NVML query that a device or driver may not support; None then."""
    try:
        return func(*args)
    except nvml.NVMLError as exc:
        if getattr(exc, "value", None) in (
            getattr(nvml, "NVML_ERROR_NOT_SUPPORTED", -4),
            getattr(nvml, "NVML_ERROR_FUNCTION_NOT_FOUND", -5),
        ):
            return None
        raise
