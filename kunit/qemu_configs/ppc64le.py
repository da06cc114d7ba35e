# SPDX-License-Identifier: GPL-2.0-only
# kunit.py --qemu_config for ppc64le with the workbench's machine and config.
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from kvmpf_qemu import params  # noqa: E402

QEMU_ARCH = params('ppc64le')
