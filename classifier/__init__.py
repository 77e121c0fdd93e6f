"""Local image classifier built on a Hugging Face ViT (google/vit-base-patch16-224)."""

__version__ = "1.0.0"
