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
# Table I: the plain front and the front with BatchNorm re-estimated per configuration, side by side
explorer search --checkpoint models/resnet20-sd-fmnist --strategy exhaustive --bn-recal 2000 --db "$DB" --study fig6-r20-bn --threads 1
[ -f report-r20-bn-bundle/pareto.bin ] || explorer export --db "$DB" --study fig6-r20-bn --out report-r20-bn-bundle
table1() {  # MODEL [SKIPNET]: both bundles at every period, simulated and live (live: nothing else should run)
  local sk="${2:-report-skipnet${1#r}}"
  local b="--bundle report-$1-bundle --skipnet $sk --bundle report-$1-bn-bundle --skipnet $sk"
  for p in 0.5x 0.8x 1.0x; do
    suffix=$([ "$p" = 0.5x ] || echo "-$p")
    explorer table1 $b --period "$p" --out "docs/data/table1-$1$suffix.json"
    explorer table1 $b --period "$p" --live --out "docs/data/table1-$1-live$suffix.json"
  done
}
table1 r20
# the recipe study's winner (docs/benchmarks.md): the same Fig. 6 and Table I studies
explorer search --checkpoint models/resnet20-sandwich-fmnist --strategy exhaustive --db "$DB" --study fig6-r20s --threads 1
explorer search --checkpoint models/resnet20-sandwich-fmnist --strategy exhaustive --bn-recal 2000 --db "$DB" --study fig6-r20s-bn --threads 1
[ -f report-r20s-bundle/pareto.bin ] || explorer export --db "$DB" --study fig6-r20s --out report-r20s-bundle
[ -f report-r20s-bn-bundle/pareto.bin ] || explorer export --db "$DB" --study fig6-r20s-bn --out report-r20s-bn-bundle
table1 r20s report-skipnet20
# p_L = 0.8 (question (b)): its own resnet20, every configuration
[ -f models/resnet20-pl08-fmnist/metadata.json ] || explorer train --recipe paper --arch resnet20 --sd-pl 0.8 --epochs 30 --crop-padding 4 --threads 1 --out models/resnet20-pl08-fmnist
explorer search --checkpoint models/resnet20-pl08-fmnist --strategy stratified --budget 140 --objective macs --db "$DB" --study fig1-r20-pl08 $T
# Fig. 1 for resnet56: 500 random configurations per skip count and model (10,102 each: every one where a count has fewer), round-robin
# over the counts, so a run cut short leaves every count equally far along; re-running continues it
for m in sd std; do
  explorer search --checkpoint models/resnet56-$m-fmnist --strategy stratified --budget 12500 --limit 1000 --objective macs --db "$DB" --study fig1-r56-$m --threads 1 --chunk-size 288
done
# resnet56: BatchNorm re-estimation for both models, every strategy at budget 100 (1,000 validation images)
explorer search --checkpoint models/resnet56-sd-fmnist --strategy all --budget 100 --limit 1000 --objective macs --bn-recal 2000 --db "$DB" --study bn-r56-sd --threads 1
explorer search --checkpoint models/resnet56-std-fmnist --strategy all --budget 100 --limit 1000 --objective macs --bn-recal 2000 --db "$DB" --study bn-r56-std --threads 1
# resnet56 Fig. 6, strategies and Table I: IREE latency (one thread), stock and re-estimated statistics
explorer search --checkpoint models/resnet56-sd-fmnist --strategy all --budget 100 --limit 1000 --db "$DB" --study fig6-r56 --threads 1
explorer search --checkpoint models/resnet56-sd-fmnist --strategy all --budget 100 --limit 1000 --bn-recal 2000 --db "$DB" --study fig6-r56-bn --threads 1
[ -f report-r56-bundle/pareto.bin ] || explorer export --db "$DB" --study fig6-r56 --out report-r56-bundle
[ -f report-r56-bn-bundle/pareto.bin ] || explorer export --db "$DB" --study fig6-r56-bn --out report-r56-bn-bundle
[ -f report-skipnet56/profile.json ] || explorer export-skipnet --checkpoint models/skipnet56-fmnist --out report-skipnet56 --images 1000
mkdir -p docs/data/skipnet56 && cp report-skipnet56/profile.json docs/data/skipnet56/
table1 r56
explorer report --db "$DB" --spec docs/report.json --out docs
