"""What every layer shares, at the bottom of the package: the error base class, retrying, the torch device.

Nothing here imports another part of nwb_cascade.
"""
