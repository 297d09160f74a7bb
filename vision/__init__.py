"""Images and faces, used by gates and by the command server.

OpenCV reads its own decoder pixel cap (OPENCV_IO_MAX_IMAGE_PIXELS, default 2^30) once, when
cv2 is loaded, and has no API to change it later. So it is set here, before any module of this
package imports cv2; gate/, command/ and sim/ import this package first (their __init__) for
the same reason. vision.image refuses bigger images before OpenCV sees them anyway: this cap
is the second line.
"""

from __future__ import annotations

import os
import sys

MAX_PIXELS = 25_000_000  # 25 MP: a 50 MP upload is refused before it is decoded

if "cv2" not in sys.modules:
    _current = os.environ.get("OPENCV_IO_MAX_IMAGE_PIXELS", "")
    _cap = min(int(_current), MAX_PIXELS) if _current.isdigit() else MAX_PIXELS
    os.environ["OPENCV_IO_MAX_IMAGE_PIXELS"] = str(_cap)
