#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-only
"""Turn console logs into results.

report.py LOG...: every LOG is either a QEMU console log written by
scripts/boot.sh (a .status file sits beside it) or a plain KTAP log from a
host-side test.  For a console log the boot itself is checked first: KVM
must report that it initialised, no WARN/BUG/lockdep/KASAN/UBSAN splat or
panic may appear, no guest program's watchdog may have reported a hang,
kmemleak (debug kernels) must find nothing, /init must have finished, QEMU
must not have timed out, and every suite in kunit/expected-suites must have
reported.  Each failed check counts
as a failure.  Prints a table per log and, as the last line,
"N passed, N failed, N skipped"; exits 1 on any failure.
"""
import os
import re
import sys

TOP = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(TOP, 'kunit'))
import archconf  # noqa: E402

TIMESTAMP = re.compile(r'^\[\s*\d+\.\d+\] ')
RESULT = re.compile(r'^( *)(not ok|ok) (\d+) (\S+)(.*)$')
SUBTEST = re.compile(r'^( *)# Subtest: (\S+)')
SPLAT = re.compile(
    r'-+\[ cut here \]-+|WARNING: CPU: \d+ PID|BUG: |kernel BUG at|'
    r'Kernel panic - not syncing|Oops|Unable to handle kernel|'
    r'general protection fault|WARNING: possible|WARNING: suspicious RCU|'
    r'WARNING: inconsistent lock state|DEBUG_LOCKS_WARN_ON|UBSAN:|'
    r'INFO: task \S+ blocked for more than|rcu: INFO: rcu_\w+ detected stalls|'
    r'kmemleak: .*(disabled|[Pp]ool empty|[Cc]annot allocate)')
DONE = re.compile(r'^kvmpf: done')
HANG = re.compile(r'kvmpf: watchdog: .* on thread (\d+)')
LEAKS = re.compile(r'^kvmpf: kmemleak: (\d+) unreferenced objects')
# A debug kernel must show that each checker is on, or it checked nothing.
DEBUG_ACTIVE = {
    # riscv prints no init line, only the KASAN shadow in its memory layout;
    # powerpc (book3s64 radix) prints its own line.
    'KASAN': r'KernelAddressSanitizer initialized|kasan\s*:\s*0x[0-9a-f]+ - 0x|KASAN init done',
    'lockdep': r'Lock dependency validator',
    'RCU lockdep': r'RCU lockdep checking is enabled',
    'kmemleak': r'kmemleak: Kernel memory leak detector initialized',
}


def console_lines(path):
    with open(path, errors='replace') as f:
        for raw in f:
            yield TIMESTAMP.sub('', raw.rstrip('\r\n').replace('\r', ''))


def parse_ktap(lines):
    """Suites as a list of (name, passed, failed, skipped).

    Cases are the results one level (4 spaces) in, a suite ends with its own
    result at the top level.  A suite that failed or skipped without any
    case result counts as one failed or skipped case.
    """
    suites, cases = [], [0, 0, 0]
    for line in lines:
        m = SUBTEST.match(line)
        if m and len(m.group(1)) == 4:
            cases = [0, 0, 0]
            continue
        m = RESULT.match(line)
        if not m:
            continue
        indent, ok, name, rest = len(m.group(1)), m.group(2) == 'ok', m.group(4), m.group(5)
        skip = bool(re.search(r'#\s*SKIP', rest, re.I))
        if indent == 4:
            cases[2 if skip else 0 if ok else 1] += 1
        elif indent == 0:
            if sum(cases) == 0:
                cases[2 if skip else 0 if ok else 1] = 1
            elif not ok and cases[1] == 0:
                cases[1] = 1  # the suite failed outside its cases
            suites.append((name, *cases))
            cases = [0, 0, 0]
    return suites


def read_status(path):
    status = {}
    with open(path) as f:
        for line in f:
            key, _, value = line.rstrip('\n').partition('=')
            status[key] = value
    return status


def frame_name(text):
    """'[<0>] kvm_vcpu_ioctl+0x2d2/0x780' or 'RIP: 0010:svm_vcpu_run+0x28a/0x8e0'
    as 'kvm_vcpu_ioctl'."""
    text = re.sub(r'^\[<\w+>\] |^RIP: \w+:', '', text.strip())
    return re.sub(r'\+0x\w+/0x\w+.*$', '', text)


def hang_evidence(lines, tid):
    """The watchdog's lines on the stuck vCPU and the hung thread's kernel
    stack, condensed so that a CI log's tail shows where it hung: from
    /proc when the thread sleeps, else from sysrq-l's backtrace of the CPU
    it was running on."""
    described = [line[2:] for line in lines if line.startswith('# watchdog: vCPU ')][:2]
    described += [line[2:] for line in lines if line.startswith('# watchdog: trace: ')][:6]
    frames, where, inside = [], 'sleeping', False
    task = re.compile(r'^# watchdog: task \d+/(\d+) ')
    for line in lines:
        m = task.match(line)
        if m:
            inside = m.group(1) == tid
        elif inside and line.startswith('#   '):
            frames.append(frame_name(line[4:]))
    if not frames:
        where, inside = 'running', False
        for line in lines:
            if re.match(r'CPU: \d+ .*PID: %s Comm:' % tid, line):
                inside = True
            elif inside and line.strip() == '</TASK>':
                break
            elif inside and (line.startswith('RIP: 0010:') or
                             re.match(r'^ [a-z_]\w*\+0x', line)):
                frames.append(frame_name(line))
    stack = 'thread %s (%s) in the kernel: %s' % (
        tid, where, ' < '.join(frames[:10]) or 'no stack found')
    return ''.join('\n      ' + x for x in described + [stack])


def boot_checks(status, lines):
    """The boot-level checks of one console log, as (name, ok, message)."""
    ready_line = status.get('kvm_ready') or archconf.load(status['arch'])['KVM_READY']
    text = '\n'.join(lines)
    checks = []
    ready = re.search(ready_line, text)
    why = [line for line in lines if re.search(r'\bkvm|KVM|SVM|svm|hypervisor', line)][:4]
    checks.append(('kvm_initialised', bool(ready),
                   'KVM did not initialise (no "%s" on the console)%s' %
                   (ready_line, ''.join('\n      ' + w for w in why))))
    splats = [line for line in lines if SPLAT.search(line)]
    checks.append(('no_kernel_splat', not splats,
                   'kernel splat: ' + '; '.join(splats[:3])))
    hangs = [m for m in map(HANG.search, lines) if m]
    checks.append(('no_hang', not hangs,
                   'a guest program hung (its watchdog dumped every task): ' +
                   '; '.join(m.group(0) for m in hangs[:2]) +
                   (hang_evidence(lines, hangs[0].group(1)) if hangs else '')))
    # The debug kernels scan for leaks once /init is done with the tests.
    leaks = [int(m.group(1)) for m in map(LEAKS.match, lines) if m]
    if leaks or (status.get('variant') == 'debug' and status.get('mode') == 'test'):
        checks.append(('kmemleak_clean', leaks == [0],
                       'kmemleak: %s' % ('%d unreferenced objects' % leaks[-1]
                                         if leaks else 'no scan reported')))
    if status.get('variant') == 'debug':
        off = [name for name, pat in DEBUG_ACTIVE.items() if not re.search(pat, text)]
        checks.append(('debug_checkers_on', not off,
                       'debug kernel without %s' % ', '.join(off)))
    rc = int(status.get('rc', '1'))
    checks.append(('finished_in_time', rc not in (124, 137),
                   'QEMU killed after %ss timeout' % status.get('timeout')))
    checks.append(('init_finished', any(DONE.match(line) for line in lines),
                   '/init never printed "kvmpf: done" (crash, panic or hang)'))
    return checks


def main(argv):
    with open(os.path.join(TOP, 'kunit', 'expected-suites')) as f:
        expected = [s.strip() for s in f if s.strip() and not s.startswith('#')]
    total = [0, 0, 0]
    problems = []
    print('%-18s %-28s %7s %7s %8s' % ('arch', 'suite', 'passed', 'failed', 'skipped'))
    for log in argv:
        status_path = log[:-4] + '.status'
        if not os.path.exists(log):
            label = os.path.basename(log)[:-4]
            problems.append('%s: no log %s' % (label, log))
            total[1] += 1
            continue
        lines = list(console_lines(log))
        rows = []
        if os.path.exists(status_path):
            status = read_status(status_path)
            # x86_64-test.log is "x86_64", x86_64-test-npt_off.log "x86_64-npt_off".
            label = os.path.basename(log)[:-4].replace('-' + status['mode'], '', 1)
            checks = boot_checks(status, lines)
            rows.append(('(boot)', sum(ok for _, ok, _ in checks),
                         sum(not ok for _, ok, _ in checks), 0))
            problems += ['%s: %s' % (label, msg) for _, ok, msg in checks if not ok]
            suites = parse_ktap(lines)
            if status.get('mode') == 'test':
                seen = {s[0] for s in suites}
                for name in expected:
                    if name not in seen:
                        rows.append((name, 0, 1, 0))
                        problems.append('%s: suite %s did not report' % (label, name))
        else:
            label = os.path.basename(log)[:-4]
            suites = parse_ktap(lines)
            if not suites:
                problems.append('%s: no KTAP results in %s' % (label, log))
                rows.append(('(results)', 0, 1, 0))
        rows += suites
        for name, p, f, s in rows:
            print('%-18s %-28s %7d %7d %8d' % (label, name, p, f, s))
            total[0] += p
            total[1] += f
            total[2] += s
            if f and name != '(boot)' and not any(name in x for x in problems):
                problems.append('%s: %s: %d failed (see %s)' %
                                (label, name, f, os.path.relpath(log, TOP)))
    for p in problems:
        print('FAIL ' + p)
    print('%d passed, %d failed, %d skipped' % tuple(total))
    return 1 if total[1] else 0


if __name__ == '__main__':
    sys.exit(main(sys.argv[1:]))
