#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-only
"""bench_plot.py DIR: the cross-arch view of DIR/first-touch.csv and
DIR/scenario.csv (whichever exist).

Prints the total-time ratio of every case to the same touch without
pre-fault, one column per arch (the figure to compare across arches: the
absolute times of an emulated machine are not), and draws DIR/bench.png
with gnuplot: stage-2 exits of the guest's first touch (log scale) and the
total-time ratio, per case and arch.  The same for the scenarios (restore
from a snapshot, post-copy): the ratio of each mode's time from memory
ready to guest done to the lazy run's, and the guest's exits, per arch, in
DIR/scenario.png.
"""
import csv
import os
import subprocess
import sys


def histograms(png, width):
    """The start of a gnuplot script drawing clustered bars into @png."""
    return """
set terminal pngcairo size %d,1000 font ',10' noenhanced
set output '%s'
set datafile missing '-'
set style data histograms
set style histogram clustered gap 1
set style fill solid 0.8 border -1
set key top left
set grid ytics""" % (width, png)


def columns(dat, arches, first):
    """Plot clauses for @dat: an arch's bars every second column from @first."""
    return ', '.join("'%s' using %d:xtic(1) title '%s'" % (dat, first + 2 * i, a)
                     for i, a in enumerate(arches))


def write_dat(dat, arches, keys, cell, label, values, names):
    """gnuplot's data: a line per key, its label, then per arch the two
    @values of its @cell (a CSV row, or None: missing)."""
    with open(dat, 'w') as f:
        f.write('# label ' + ' '.join('%s_%s %s_%s' % (names[0], a, names[1], a)
                                      for a in arches) + '\n')
        for k in keys:
            cells = [cell(a, k) for a in arches]
            f.write('"%s" ' % label(k) + ' '.join(
                '%s %s' % values(c) if c else '- -' for c in cells) + '\n')


def gnuplot(out, name, script):
    """Run @script (gnuplot) saved as DIR/NAME.gp: 0 or gnuplot's status."""
    path = os.path.join(out, name + '.gp')
    with open(path, 'w') as f:
        f.write(script)
    r = subprocess.run(['gnuplot', path])
    if r.returncode:
        print('bench_plot: gnuplot failed on %s' % path, file=sys.stderr)
    return r.returncode


def first_touch(out):
    with open(os.path.join(out, 'first-touch.csv')) as f:
        rows = list(csv.DictReader(f))
    arches = list(dict.fromkeys(r['arch'] for r in rows))
    cases = list(dict.fromkeys((r['touch'], r['preparation']) for r in rows))
    by = {(r['arch'], r['touch'], r['preparation']): r for r in rows}

    print('\ntotal time (populate + pre-fault + guest touch) / same touch without pre-fault')
    print('%-26s' % 'case' + ''.join('%12s' % a for a in arches))
    for touch, prep in cases:
        cells = [by.get((a, touch, prep)) for a in arches]
        print('%-26s' % ('%s, %s' % (touch, prep)) +
              ''.join('%12s' % ('%.3f' % float(c['total_ratio']) if c else '-') for c in cells))

    dat = os.path.join(out, 'bench.dat')
    write_dat(dat, arches, cases, lambda a, k: by.get((a,) + k),
              lambda k: '%s\\n%s' % k,
              lambda c: (max(int(c['exits']), 1), c['total_ratio']), ('exits', 'ratio'))
    exits = columns(dat, arches, 2)
    ratio = columns(dat, arches, 3)
    script = histograms(os.path.join(out, 'bench.png'), 1400) + """
set xtics font ',9'
set bmargin 4
set multiplot layout 2,1 title 'KVM_PRE_FAULT_MEMORY: guest first touch of a 64 MiB slot on %s'
set title 'stage-2 exits while the guest touches the slot (log scale; the "none, none" guest touches nothing)'
set logscale y
set yrange [1:*]
plot %s
unset logscale y
set title 'total time (populate + pre-fault + touch) relative to the same touch without pre-fault'
set yrange [0:*]
plot %s, 1 with lines lc rgb 'black' dt 2 notitle
unset multiplot
""" % (', '.join(arches), exits, ratio)
    return gnuplot(out, 'bench', script)


def scenario(out):
    with open(os.path.join(out, 'scenario.csv')) as f:
        rows = list(csv.DictReader(f))
    arches = list(dict.fromkeys(r['arch'] for r in rows))
    key = lambda r: (r['scenario'], r['source'], r['access'], r['mode'])
    runs = [k for k in dict.fromkeys(key(r) for r in rows) if k[3] != 'lazy']
    by = {(r['arch'],) + key(r): r for r in rows}
    mib = ', '.join(sorted(set(r['mib'] for r in rows), key=int))

    print('\nscenarios: time from memory ready to guest done / the lazy run\'s (exits)')
    print('%-38s' % 'scenario, source, guest, mode' + ''.join('%18s' % a for a in arches))
    for k in runs:
        cells = [by.get((a,) + k) for a in arches]
        print('%-38s' % ', '.join(k) + ''.join(
            '%18s' % ('%.3f (%s)' % (float(c['ratio']), c['exits']) if c else '-')
            for c in cells))

    dat = os.path.join(out, 'scenario.dat')
    write_dat(dat, arches, runs, lambda a, k: by.get((a,) + k),
              lambda k: '%s, %s\\n%s\\n%s' % k,
              lambda c: (c['ratio'], max(int(c['exits']), 1)), ('ratio', 'exits'))
    ratio = columns(dat, arches, 2)
    exits = columns(dat, arches, 3)
    script = histograms(os.path.join(out, 'scenario.png'), 1600) + """
set xtics font ',8'
set bmargin 6
set multiplot layout 2,1 title 'KVM_PRE_FAULT_MEMORY: restore from a snapshot and post-copy, %s MiB guest, on %s'
set title '(pre-fault + guest) / lazy guest: time from memory ready to guest done, relative to the lazy run of the same source and guest access'
set yrange [0:*]
plot %s, 1 with lines lc rgb 'black' dt 2 notitle
set title 'stage-2 exits while the guest ran (log scale; under TCG an exit costs far more than on hardware)'
set logscale y
set yrange [1:*]
plot %s
unset multiplot
""" % (mib, ', '.join(arches), ratio, exits)
    return gnuplot(out, 'scenario', script)


def main(out):
    rc = 0
    if os.path.exists(os.path.join(out, 'first-touch.csv')):
        rc |= first_touch(out)
    if os.path.exists(os.path.join(out, 'scenario.csv')):
        rc |= scenario(out)
    return rc


if __name__ == '__main__':
    sys.exit(main(sys.argv[1]))
