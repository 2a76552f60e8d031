"""The forecasting core: launch curves, neighbours, global models, baselines and metrics.

Pure Python on pandas/NumPy/LightGBM/statsforecast: no HTTP and no SQL in here. The training
job and the service both call it, so serving builds features with the very code training used.
"""
