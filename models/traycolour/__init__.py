"""Tray-colour recognition for the canteen self-checkout.

The run time lives in :mod:`models.traycolour.runtime` (numpy, OpenCV and onnxruntime only);
everything else here builds, trains and evaluates the model.
"""
