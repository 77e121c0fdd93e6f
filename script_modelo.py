"""Clasificador de imágenes local con google/vit-base-patch16-224: python script_modelo.py --help"""

import sys

from classifier.cli import main

if __name__ == "__main__":
    sys.exit(main())
