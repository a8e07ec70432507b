"""The SkipNet baseline (Wang et al. 2018), in one place: input-dependent gates that Table I compares
our configuration-driven skipping against.

    model.py      SkipNet: a trained GatedResNet plus one feed-forward gate network per gated block
                  (FFGate-I, or FFGate-II for deeper models); registered as the `skipnet` model family
    training.py   train_skipnet: supervised pre-training, then the hybrid loss (resumable)
    runtime.py    export_skipnet (per-image profile of the compiled module) and SkipNetRuntime
                  (replayed in the simulator, or live)
    emitter.py    its gate networks in the IREE module (a GateReader of explorer.deploy.mlir)

The modules sit on different layers (model and training beside `explorer/models` and training,
emitter and runtime beside `explorer/deploy` and `explorer/runtime`), so this file imports none
of them: training needs only PyTorch.
"""
