"""Training a LLaVA-architecture VLM on the synthetic suite (how the embedded demo is made).

Entry points: `loop.train` (the training loop, checkpoints, resume), `data` (the streamed,
mixed, fixed-shape batches), `forward.LlavaLoss` (the loss written out for torch.compile)
and `ranks.Ranks` (one process per GPU under torchrun, or one process).
"""
