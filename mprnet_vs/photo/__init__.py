"""The photo front end: read a photo by its content (8/16-bit, float, alpha, gray, EXIF
orientation), restore it, and write it atomically in the format its output name asks for.
:mod:`.file` inspects what a file holds that OpenCV cannot keep (metadata, pages, transparency)."""

from .restore import PHOTO_SUFFIXES, PhotoReport, is_photo, read_photo, read_rgb, read_rgb_photo, restore_photo

__all__ = ["PHOTO_SUFFIXES", "PhotoReport", "is_photo", "read_photo", "read_rgb", "read_rgb_photo", "restore_photo"]
