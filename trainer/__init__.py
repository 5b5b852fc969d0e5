"""trainstack's trainer: an FSDP2 Llama trainer for CPU (gloo) and CUDA (NCCL)."""
