"""Speech: audio primitives, VAD and turn-end detection, speech recognition and synthesis.

The only package that imports speech-model libraries (faster-whisper, piper, onnxruntime, misaki).
"""
