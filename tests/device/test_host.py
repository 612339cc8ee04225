"""Host facts: what changes speed, parsed from recorded ``/proc/cpuinfo`` files of real boards."""

import json
from pathlib import Path

from hwnas.device.agent.host import fingerprint, host_facts, parse_cpuinfo

FIXTURES = Path(__file__).parent / "fixtures"

X86 = ("processor\t: 0\nvendor_id\t: AuthenticAMD\nmodel name\t: AMD EPYC\nflags\t\t: fpu sse sse2 sse4_2 avx avx2 fma "
       "f16c avx512f avx512bw avx512vl avx512_vnni avx512_bf16 sha_ni\n\nprocessor\t: 1\nmodel name\t: AMD EPYC\n"
       "flags\t\t: fpu sse sse2 sse4_2 avx avx2 fma f16c avx512f avx512bw avx512vl avx512_vnni avx512_bf16 sha_ni\n")


def test_a_raspberry_pi_4_is_named_by_its_core_and_board():
    facts = parse_cpuinfo((FIXTURES / "cpuinfo-raspberry-pi-4.txt").read_text(), "aarch64")
    assert facts["cpu"] == "ARM Cortex-A72" and facts["board"] == "Raspberry Pi 4 Model B Rev 1.5"
    assert facts["arch"] == "aarch64" and facts["flags"] == ["asimd"] and facts["logical_cpus"] == 4


def test_a_jetson_xavier_is_named_by_its_core_with_its_fp16_flags():
    facts = parse_cpuinfo((FIXTURES / "cpuinfo-jetson-xavier.txt").read_text(), "aarch64")
    assert facts["cpu"] == "NVIDIA Carmel" and facts["flags"] == ["asimd", "asimdhp", "fphp"]
    assert facts["board"] is None and facts["logical_cpus"] == 2  # the dump shows two of its six


def test_two_x86_machines_of_one_name_differ_by_their_instruction_sets():
    with_vnni = parse_cpuinfo(X86, "x86_64")
    without = parse_cpuinfo(X86.replace(" avx512f avx512bw avx512vl avx512_vnni avx512_bf16", ""), "x86_64")
    assert with_vnni["cpu"] == without["cpu"] == "AMD EPYC"
    assert "avx512_vnni" in with_vnni["flags"] and "sha_ni" not in with_vnni["flags"]  # speed flags only
    assert fingerprint(with_vnni) != fingerprint(without)
    assert fingerprint({"cpu": "AMD EPYC", "cores": 2}) is None  # an old record says too little


def test_this_machine_has_facts_that_travel_as_json():
    facts = host_facts()
    assert facts["cores"] >= 1 and facts["cpu"] and facts["arch"] and "CPUExecutionProvider" in facts["providers"]
    assert json.loads(json.dumps(facts)) == facts and fingerprint(facts) is not None
