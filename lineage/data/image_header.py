"""The size an image file's header states, read without decoding it.

A decompression bomb is a small file whose header states a huge image (12000 x 12000 pixels
is 432 MB decoded as RGB, from a JPEG of a few kilobytes); the decoder allocates what the header
says. The image folder reads this size first and leaves an image over
`config.dataset.max_image_pixels` undecoded (`lineage.data.image_check`), as PIL's
`Image.MAX_IMAGE_PIXELS` does (its default, 89,478,485 pixels, is the default here too).

Formats, as `image_folder.is_image` recognizes them: JPEG (the frame header, SOFn, after the
segments before it), PNG (IHDR), GIF (the logical screen) and BMP (the info header).
"""

from __future__ import annotations

# JPEG markers that carry no length: TEM, RST0-7, SOI, EOI.
_STANDALONE = {0x01, *range(0xD0, 0xD9)}
# Frame headers: SOF0-SOF15 but DHT (C4), JPG (C8) and DAC (CC).
_FRAMES = set(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}
_SOS = 0xDA  # start of scan: the coded data follows, no frame header after it


def _jpeg(f) -> tuple[int, int] | None:
    f.seek(2)
    while True:
        byte = f.read(1)
        while byte == b'\xff':  # fill bytes before a marker
            byte = f.read(1)
        if not byte:
            return None
        marker = byte[0]
        if marker in _STANDALONE:
            continue
        length = int.from_bytes(f.read(2), 'big')
        if marker == _SOS or length < 2:
            return None
        if marker in _FRAMES:
            header = f.read(5)  # precision, height, width
            return int.from_bytes(header[1:3], 'big'), int.from_bytes(header[3:5], 'big')
        f.seek(length - 2, 1)
        if f.read(1) != b'\xff':
            return None
        f.seek(-1, 1)


def size(path: str) -> tuple[int, int] | None:
    """(height, width) that the header of the JPEG, PNG, GIF or BMP file at `path` states;
    None for another format or a header that does not read."""
    with open(path, 'rb') as f:
        head = f.read(26)
        if head.startswith(b'\xff\xd8'):
            return _jpeg(f)
        if head.startswith(b'\x89PNG') and head[12:16] == b'IHDR':
            return int.from_bytes(head[20:24], 'big'), int.from_bytes(head[16:20], 'big')
        if head.startswith(b'GIF') and len(head) >= 10:
            return int.from_bytes(head[8:10], 'little'), int.from_bytes(head[6:8], 'little')
        if head.startswith(b'BM') and len(head) >= 26:
            if int.from_bytes(head[14:18], 'little') == 12:  # OS/2 core header: 16-bit sizes
                return int.from_bytes(head[20:22], 'little'), int.from_bytes(head[18:20], 'little')
            height = abs(int.from_bytes(head[22:26], 'little', signed=True))  # < 0: top-down
            return height, int.from_bytes(head[18:22], 'little', signed=True)
    return None


def pixels(path: str) -> int | None:
    """Height x width that the file's header states; None where `size` finds none."""
    found = size(path)
    return None if found is None else found[0] * found[1]
