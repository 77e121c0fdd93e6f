"""Any file a user can pick -> an upright 8-bit RGB image, or an ImageError in Spanish.

opening: safe opening and the bomb guards; sniffing: what a file that is no picture is;
jpeg, png: the format-specific checks; pixels: any mode -> RGB; folders: the paths to
classify; display: the copy reduced for the screen.
"""

from .display import display_copy
from .folders import each_once, expand_inputs, is_map_file, skipped_outputs_sentence
from .jpeg import MAX_JPEG_SCANS
from .opening import open_image, pixel_count, readable_formats

__all__ = ["MAX_JPEG_SCANS", "display_copy", "each_once", "expand_inputs", "is_map_file", "open_image",
           "pixel_count", "readable_formats", "skipped_outputs_sentence"]
