#!/usr/bin/env bash
# Bring your own model, end to end on real data (docs/byom.md): torchvision-layout ResNet-18 and
# MobileNetV2 trained here the standard way on Fashion-MNIST (28×28, 1 channel, the first 12,000
# training images), fine-tuned with Stochastic Depth, and every configuration searched with stock
# and re-estimated BatchNorm statistics (one --bn-recal search records both). DATASET picks another
# data set or size (default fashion-mnist; NAME@HxWx3 resizes and copies grey into 3 channels, as
# colour weights expect). Every step resumes
# (--resume; a search adds nothing twice). Then, per study:
#
#   DATA_DIR=... [DATASET=fashion-mnist@32x32x3] bash scripts/byom_example.sh [OUT=runs/byom]
#   python benchmarks/bn_table.py --db sqlite:///runs/byom/byom.db --study tv-resnet18-ft
set -euo pipefail
OUT=${1:-runs/byom}
DATA=${DATA_DIR:+--data-dir $DATA_DIR}
DB=sqlite:///$OUT/byom.db
THREADS=${THREADS:-2}
DATASET=${DATASET:-fashion-mnist}
for ARCH in tv-resnet18 tv-mobilenet_v2; do
  explorer train --arch $ARCH --dataset $DATASET $DATA --recipe paper --sd-pl 1 --epochs 4 --limit-train 12000 \
    --threads $THREADS --out $OUT/$ARCH-std --resume
  explorer finetune --checkpoint $OUT/$ARCH-std $DATA --epochs 2 --limit-train 12000 --threads $THREADS \
    --out $OUT/$ARCH-ft --resume
  # ResNet-18: all 2^5 configurations; MobileNetV2 (2^10): the sensitivity ranking and 150 random ones
  if [ $ARCH = tv-resnet18 ]; then SEARCHES=("exhaustive"); else SEARCHES=("sensitivity" "random --budget 150"); fi
  for M in std ft; do
    for S in "${SEARCHES[@]}"; do
      explorer search --checkpoint $OUT/$ARCH-$M $DATA --strategy $S --objective macs --limit 2000 \
        --bn-recal 2000 --threads $THREADS --db $DB --study $ARCH-$M --no-progress > /dev/null
    done
  done
done
# the fine-tuned models searched for IREE latency (re-estimated statistics) and exported as bundles
for ARCH in tv-resnet18 tv-mobilenet_v2; do
  explorer search --checkpoint $OUT/$ARCH-ft $DATA --strategy sensitivity --limit 2000 --bn-recal 2000 \
    --threads $THREADS --db $DB --study $ARCH-ft-latency --no-progress > /dev/null
  explorer export --db $DB --study $ARCH-ft-latency --out $OUT/$ARCH-bundle
done
