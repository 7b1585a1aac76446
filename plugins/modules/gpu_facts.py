#!/usr/bin/python
# Copyright (c) 2025, orcaqueen.swarm maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
---
module: gpu_facts
short_description: Gather facts about the GPUs of a host (NVML, nvidia-smi or lspci)
version_added: 0.2.0
description:
  - Finds the GPUs of the managed host and returns them as the fact C(gpu) (C(ansible_facts.gpu)).
  - "Detection order: NVML through the C(nvidia-ml-py) Python package (C(import pynvml)) when it is
    importable and C(libnvidia-ml) is installed; else C(nvidia-smi -q -x) parsed as XML; else
    C(lspci -nnk) for NVIDIA (vendor C(10de)) and AMD (vendor C(1002)) display and 3D controllers,
    which also finds GPUs that have no driver loaded."
  - A driver/library version mismatch, a missing driver or a host without any GPU is reported in
    the facts (RV(ansible_facts.gpu.error), RV(ansible_facts.gpu.driver_loaded)), never as a task failure.
  - Fields a driver version does not report are V(null). Compute capability comes from NVML; with
    nvidia-smi or lspci it is looked up by product name, and is V(null) for unknown products.
  - Reads only; changes nothing on the host.
author:
  - orcaqueen.swarm maintainers (@orcaqueen)
options:
  sources:
    description:
      - The detection methods to try, in this order; the first one that can run decides.
      - V(lspci) runs when NVML and nvidia-smi are not available, and also after an NVML or
        nvidia-smi failure, to count the devices the driver could not report.
    type: list
    elements: str
    choices: [nvml, nvidia-smi, lspci]
    default: [nvml, nvidia-smi, lspci]
  nvidia_smi_path:
    description:
      - Path of C(nvidia-smi). Found on E(PATH) (and C(/usr/bin), C(/usr/local/bin)) when not given.
      - A path that does not exist or is not executable fails the task.
    type: path
  lspci_path:
    description:
      - Path of C(lspci) (Debian package C(pciutils)). Found on E(PATH) when not given.
      - A path that does not exist or is not executable fails the task.
    type: path
  timeout:
    description:
      - Seconds to wait for C(nvidia-smi) or C(lspci); a hung driver is reported as an error fact.
    type: int
    default: 30
attributes:
  check_mode:
    description: Can run in check mode and return changed status prediction without modifying target.
    support: full
    details: The module only reads; check mode behaves like a normal run.
  diff_mode:
    description: Will return details on what has changed (or possibly needs changing in check_mode), when in diff mode.
    support: none
  facts:
    description: Action returns an C(ansible_facts) dictionary that will update existing host facts.
    support: full
notes:
  - Detection order, the fact table and the vLLM sizing filter built on it are described in
    C(docs/gpu.md) of the collection.
  - Hosts without a GPU (for example aarch64 cloud VMs) get RV(ansible_facts.gpu.count=0) and
    RV(ansible_facts.gpu.source=none) or V(lspci).
seealso:
  - name: NVIDIA System Management Interface
    description: The C(nvidia-smi) documentation, including the C(-q -x) XML output.
    link: https://docs.nvidia.com/deploy/nvidia-smi/index.html
"""

EXAMPLES = r"""
- name: Find the GPUs of every swarm host
  orcaqueen.swarm.gpu_facts:

- name: Group hosts by GPU vendor
  ansible.builtin.group_by:
    key: "gpu_{{ 'nvidia' if ansible_facts.gpu.vendor == 'nvidia' and ansible_facts.gpu.driver_loaded else 'none' }}"

- name: Stop when the driver does not match its library
  ansible.builtin.assert:
    that: ansible_facts.gpu.error is none
    fail_msg: "{{ ansible_facts.gpu.error }}"
  when: ansible_facts.gpu.count > 0

- name: Only look at the PCI bus (for example before the driver is installed)
  orcaqueen.swarm.gpu_facts:
    sources: [lspci]
"""

RETURN = r"""
ansible_facts:
  description: The facts.
  returned: always
  type: dict
  contains:
    gpu:
      description: The GPUs of the host.
      returned: always
      type: dict
      contains:
        vendor:
          description: V(nvidia), V(amd), V(mixed) or V(none).
          type: str
          sample: nvidia
        count:
          description: Number of GPUs found.
          type: int
          sample: 1
        memory_total_mib:
          description: Sum of the memory of all devices, MiB (0 when unknown).
          type: int
          sample: 24564
        driver_version:
          description: NVIDIA driver version; V(null) when unknown.
          type: str
          sample: "550.90.07"
        cuda_driver_version:
          description: Highest CUDA version the driver supports; V(null) when unknown.
          type: str
          sample: "12.4"
        homogeneous:
          description: True when all devices have the same vendor and name, memory within 1 % (also with 0 or 1 device).
          type: bool
          sample: true
        driver_loaded:
          description: True when the vendor's compute driver (nvidia, amdgpu) drives the devices.
          type: bool
          sample: true
        source:
          description: Where the facts came from, V(nvml), V(nvidia-smi), V(lspci) or V(none).
          type: str
          sample: nvml
        machine:
          description: Machine architecture of the host (C(platform.machine())), V(x86_64) or V(aarch64) for example.
          type: str
          sample: x86_64
        error:
          description:
            - Why the driver could not be queried (version mismatch, driver not loaded, lost GPU, timeout, bad output,
              fewer GPUs described than attached), or V(null).
          type: str
          sample: null
        nvidia_unusable:
          description:
            - True when an NVIDIA GPU or NVIDIA driver stack is on the host but cannot be used - NVML or C(nvidia-smi)
              exists and fails, or C(lspci) shows an NVIDIA card with no C(nvidia) driver bound. C(site.yml) stops on
              such a host instead of serving on the CPU.
          type: bool
          sample: false
        lspci_available:
          description: True when C(lspci) (Debian package C(pciutils)) is on the host.
          type: bool
          sample: true
        devices:
          description: One entry per device, in NVML index order (PCI bus order).
          type: list
          elements: dict
          contains:
            index:
              description: Device index.
              type: int
              sample: 0
            vendor:
              description: V(nvidia) or V(amd).
              type: str
              sample: nvidia
            name:
              description: Product name (with lspci, the PCI device description).
              type: str
              sample: NVIDIA GeForce RTX 4090
            uuid:
              description: GPU UUID; V(null) with lspci.
              type: str
              sample: GPU-5a4c3b2d-1e0f-4a9b-8c7d-6e5f4a3b2c1d
            pci_bus_id:
              description: PCI bus id, C(DDDDDDDD:BB:DD.F) from NVIDIA tools, C(DDDD:BB:DD.F) from lspci.
              type: str
              sample: "00000000:01:00.0"
            memory_total_mib:
              description: Total framebuffer memory in MiB; V(null) with lspci.
              type: int
              sample: 24564
            memory_reserved_mib:
              description:
                - Framebuffer memory the driver reserves (drivers 510 and later); CUDA sees total minus this.
                  V(null) when not reported.
              type: int
              sample: 346
            memory_used_mib:
              description: Memory in use (by other processes too) when the facts were gathered; V(null) when unknown.
              type: int
              sample: 1
            memory_free_mib:
              description: Memory free when the facts were gathered; V(null) when unknown.
              type: int
              sample: 24216
            compute_capability:
              description:
                - CUDA compute capability. From NVML; else from the product-name table when that agrees with the
                  architecture nvidia-smi reports; else the lowest capability of that architecture; V(null) if unknown.
              type: str
              sample: "8.9"
            compute_capability_source:
              description: V(driver), V(product name), V(architecture) or V(null).
              type: str
              sample: product name
            architecture:
              description: Architecture name (Ampere, Ada Lovelace, Hopper, Blackwell, ...); V(null) when unknown.
              type: str
              sample: Ada Lovelace
            mig_mode:
              description: Current MIG mode, V(Enabled) or V(Disabled); V(null) where MIG is not supported.
              type: str
              sample: null
            mig_devices:
              description:
                - The MIG slices of a GPU in MIG mode (empty otherwise), each with C(index), C(gpu_instance_id),
                  C(compute_instance_id), C(multiprocessor_count), C(memory_total_mib), C(memory_used_mib) and
                  C(memory_free_mib).
              type: list
              elements: dict
              sample: []
            driver:
              description: Kernel driver in use (V(null) with lspci when none is bound).
              type: str
              sample: nvidia
            pci_id:
              description: PCI C(vendor:device) id; only with lspci.
              type: str
              sample: "10de:2684"
"""

import os
import platform
import typing as t

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.orcaqueen.swarm.plugins.module_utils import gpu

ARGUMENT_SPEC: dict[str, t.Any] = dict(
    sources=dict(type="list", elements="str", choices=list(gpu.SOURCES), default=list(gpu.SOURCES)),
    nvidia_smi_path=dict(type="path"),
    lspci_path=dict(type="path"),
    timeout=dict(type="int", default=30),
)
EXTRA_BIN_DIRS = ["/usr/bin", "/usr/local/bin", "/usr/sbin", "/sbin"]


def _binary(module: AnsibleModule, given: str | None, name: str) -> str | None:
    if given:
        if not os.access(given, os.X_OK):
            option = name.replace("-", "_") + "_path"
            module.fail_json(msg=f"{option} {given} does not exist or is not executable on this host")
        return given
    return module.get_bin_path(name, opt_dirs=EXTRA_BIN_DIRS)


def _run(module: AnsibleModule, argv: list[str]) -> tuple[int, str, str]:
    timeout = module.params["timeout"]
    # `timeout` kills a hung driver query; it is in coreutils on every supported host.
    wrapper = module.get_bin_path("timeout")
    command = [wrapper, "-k", "5", str(timeout), *argv] if wrapper else argv
    return module.run_command(command, environ_update={"LC_ALL": "C"})


def from_nvml() -> gpu.Facts | None:
    try:
        import pynvml  # optional: only when nvidia-ml-py is installed on the host
    except ImportError:
        return None
    try:
        facts = gpu.collect_nvml(pynvml)
    except gpu.NvmlUnavailable:
        return None
    # libnvidia-ml is installed: an error means an NVIDIA stack that does not work.
    facts["nvidia_unusable"] = bool(facts["error"])
    return facts


def from_nvidia_smi(module: AnsibleModule) -> gpu.Facts | None:
    binary = _binary(module, module.params["nvidia_smi_path"], "nvidia-smi")
    if binary is None:
        return None
    rc, out, err = _run(module, [binary, "-q", "-x"])
    if rc == 0:
        try:
            return gpu.parse_nvidia_smi_xml(out)
        except ValueError as exc:
            facts = gpu.empty_facts()
            facts.update(source="nvidia-smi", error=str(exc), nvidia_unusable=True)
            return facts
    facts = gpu.empty_facts()
    facts.update(source="nvidia-smi", error=gpu.parse_nvidia_smi_failure(rc, out, err), nvidia_unusable=True)
    return facts


def from_lspci(module: AnsibleModule) -> gpu.Facts | None:
    binary = _binary(module, module.params["lspci_path"], "lspci")
    if binary is None:
        return None
    rc, out, err = _run(module, [binary, "-nnk"])
    if rc != 0:
        facts = gpu.empty_facts()
        facts.update(source="lspci", error=f"lspci -nnk failed (rc={rc}): {err.strip() or out.strip()}")
        return facts
    return gpu.parse_lspci(out)


def gather(module: AnsibleModule) -> gpu.Facts:
    sources = module.params["sources"]
    facts: gpu.Facts | None = None
    if "nvml" in sources:
        facts = from_nvml()
    if facts is None and "nvidia-smi" in sources:
        facts = from_nvidia_smi(module)
    if "lspci" in sources and (facts is None or (facts["error"] and not facts["devices"])):
        pci = from_lspci(module)
        if facts is None:
            facts = pci
        elif pci is not None and pci["devices"]:
            # The NVIDIA stack failed: keep its error, list what is on the bus.
            error = facts["error"]
            facts = pci
            facts["driver_loaded"] = False
            facts["error"] = error
            facts["nvidia_unusable"] = True
    if facts is None:
        facts = gpu.empty_facts()
    nvidia_on_bus = any(d["vendor"] == "nvidia" for d in facts["devices"])
    if facts["source"] == "lspci" and nvidia_on_bus and not facts["driver_loaded"]:
        # An NVIDIA card on the bus without the nvidia driver bound to it.
        facts["nvidia_unusable"] = True
    # Without lspci (Debian does not always install pciutils) a GPU whose driver is missing stays
    # invisible: site.yml installs pciutils and asks again where this is false and nothing was found.
    facts["lspci_available"] = _binary(module, module.params["lspci_path"], "lspci") is not None
    facts["machine"] = platform.machine()
    return facts


def main() -> None:
    module = AnsibleModule(argument_spec=ARGUMENT_SPEC, supports_check_mode=True)
    module.exit_json(changed=False, ansible_facts={"gpu": gather(module)})


if __name__ == "__main__":
    main()
