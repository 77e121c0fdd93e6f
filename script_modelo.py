"""Clasificador de imágenes local con google/vit-base-patch16-224: python script_modelo.py --help"""

from classifier import run

if __name__ == "__main__":
    run()
