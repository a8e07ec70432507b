#!/usr/bin/env bash
# Everything docs/results.md is made of, then `explorer report`. Every step is resumable: re-running
# (docs/data/report.db is the database this script filled for the committed docs/results.md;
#  `explorer report --db sqlite:///docs/data/report.db` regenerates the document from it)
# it measures only what the database or a folder does not hold yet.
#   scripts/report_data.sh [DB_URL]      (default sqlite:///report.db)
set -euo pipefail
cd "$(dirname "$0")/.."
DB="${1:-sqlite:///report.db}"
T="--threads 2"
# Fig. 1 and p_L: every configuration of each resnet20 (7 counts × 20 ≥ all 64), full validation split
explorer search --checkpoint models/resnet20-sd-fmnist --strategy stratified --budget 140 --objective macs --db "$DB" --study fig1-r20-sd $T
explorer search --checkpoint models/resnet20-std-fmnist --strategy stratified --budget 140 --objective macs --db "$DB" --study fig1-r20-std $T
# strategies at one budget, with the exhaustive front
explorer search --checkpoint models/resnet20-sd-fmnist --strategy all --budget 20 --objective macs --db "$DB" --study strategies-r20 $T
# BatchNorm statistics re-estimated per configuration (2,000 training images)
explorer search --checkpoint models/resnet20-sd-fmnist --strategy exhaustive --objective macs --bn-recal 2000 --db "$DB" --study bn-r20 $T
# Fig. 6: the front with IREE latency (one thread), SkipNet's profile, and the bundle for Table I
explorer search --checkpoint models/resnet20-sd-fmnist --strategy exhaustive --db "$DB" --study fig6-r20 --threads 1
[ -f report-r20-bundle/pareto.bin ] || explorer export --db "$DB" --study fig6-r20 --out report-r20-bundle
[ -f report-skipnet20/profile.json ] || explorer export-skipnet --checkpoint models/skipnet20-fmnist --out report-skipnet20 --images 1000
mkdir -p docs/data/skipnet20 && cp report-skipnet20/profile.json docs/data/skipnet20/
mkdir -p docs/data
explorer table1 --bundle report-r20-bundle --skipnet report-skipnet20 --period 0.5x --out docs/data/table1-r20.json
explorer report --db "$DB" --spec docs/report.json --out docs
