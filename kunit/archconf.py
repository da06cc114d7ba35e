# SPDX-License-Identifier: GPL-2.0-only
"""Read kunit/arch/<arch>.conf (KEY=value lines shared with the shell scripts)."""
import os
import shlex

KUNIT_DIR = os.path.dirname(os.path.abspath(__file__))


def host_tsc_khz():
    """The build host's TSC frequency in kHz (what TCG's RDTSC counts)."""
    try:
        with open('/proc/cpuinfo') as f:
            for line in f:
                if line.startswith('cpu MHz'):
                    return str(int(float(line.split(':')[1]) * 1000))
    except (OSError, ValueError):
        pass
    return '2000000'


def load(arch):
    """Return the per-arch settings of kunit/arch/ARCH.conf as a dict."""
    conf = {}
    with open(os.path.join(KUNIT_DIR, 'arch', arch + '.conf')) as f:
        for line in f:
            line = line.strip()
            if not line or line.startswith('#'):
                continue
            key, _, value = line.partition('=')
            words = shlex.split(value)
            conf[key] = words[0] if len(words) == 1 else ' '.join(words)
    if 'HOST_TSC_KHZ' in conf.get('CMDLINE', ''):
        conf['CMDLINE'] = conf['CMDLINE'].replace('HOST_TSC_KHZ', host_tsc_khz())
    return conf


def fragments(arch):
    """The Kconfig fragments the workbench merges for ARCH, as one string."""
    text = []
    for name in ('base.config', arch + '.config'):
        with open(os.path.join(KUNIT_DIR, 'configs', name)) as f:
            text.append(f.read())
    return '\n'.join(text)
