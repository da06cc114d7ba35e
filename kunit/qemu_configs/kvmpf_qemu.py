# SPDX-License-Identifier: GPL-2.0-only
"""QemuArchParams for kunit.py built from the workbench's per-arch data."""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
import archconf  # noqa: E402
from qemu_config import QemuArchParams  # noqa: E402  (kunit.py's own module)


def params(arch):
    conf = archconf.load(arch)
    extra = ['-machine', conf['QEMU_MACHINE'], '-cpu', conf['QEMU_CPU'],
             '-smp', '2', '-m', '2048']
    extra += conf.get('QEMU_FIRMWARE', '').split()
    return QemuArchParams(linux_arch=conf['LINUX_ARCH'],
                          kconfig=archconf.fragments(arch),
                          qemu_arch=conf['QEMU'].replace('qemu-system-', ''),
                          kernel_path=conf['KERNEL_IMAGE'],
                          kernel_command_line='console=' + conf['CONSOLE'] +
                          ' hugepages=64 ' + conf.get('CMDLINE', ''),
                          extra_qemu_params=extra)
