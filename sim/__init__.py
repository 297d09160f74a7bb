import vision  # noqa: F401  (sets OpenCV's decoder pixel cap before anything loads cv2)
