"""Model packs: pinned ONNX files, their sessions, and the face pipeline built from them."""
