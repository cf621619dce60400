"""Training and evaluation: the released MPRNet recipe on current PyTorch, and PSNR/SSIM scoring."""
