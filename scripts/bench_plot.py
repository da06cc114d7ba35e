#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-only
"""bench_plot.py DIR: the cross-arch view of DIR/first-touch.csv.

Prints the total-time ratio of every case to the same touch without
pre-fault, one column per arch (the figure to compare across arches: the
absolute times of an emulated machine are not), and draws DIR/bench.png
with gnuplot: stage-2 exits of the guest's first touch (log scale) and the
total-time ratio, per case and arch.
"""
import csv
import os
import subprocess
import sys


def main(out):
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
    with open(dat, 'w') as f:
        f.write('# case ' + ' '.join('exits_%s ratio_%s' % (a, a) for a in arches) + '\n')
        for touch, prep in cases:
            cells = [by.get((a, touch, prep)) for a in arches]
            f.write('"%s\\n%s" ' % (touch, prep) + ' '.join(
                '%s %s' % (max(int(c['exits']), 1), c['total_ratio']) if c else '- -'
                for c in cells) + '\n')
    exits = ', '.join("'%s' using %d:xtic(1) title '%s'" % (dat, 2 + 2 * i, a)
                      for i, a in enumerate(arches))
    ratio = ', '.join("'%s' using %d:xtic(1) title '%s'" % (dat, 3 + 2 * i, a)
                      for i, a in enumerate(arches))
    script = """
set terminal pngcairo size 1400,1000 font ',10' noenhanced
set output '%s'
set datafile missing '-'
set style data histograms
set style histogram clustered gap 1
set style fill solid 0.8 border -1
set key top left
set grid ytics
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
""" % (os.path.join(out, 'bench.png'), ', '.join(arches), exits, ratio)
    with open(os.path.join(out, 'bench.gp'), 'w') as f:
        f.write(script)
    r = subprocess.run(['gnuplot', os.path.join(out, 'bench.gp')])
    if r.returncode:
        print('bench_plot: gnuplot failed', file=sys.stderr)
    return r.returncode


if __name__ == '__main__':
    sys.exit(main(sys.argv[1]))
