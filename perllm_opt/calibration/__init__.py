"""Calibration: device profiles measured with llama.cpp's llama-bench, written as a devices file
the catalogue reads (beside the data flow: it feeds the system stage)."""
