# The SDK lives in python/src (src layout: the directory put on workers' PYTHONPATH holds nothing
# but the `neutrino` package, so it can never shadow a user's own `tests` or `fixtures` package).
import os
import sys

SDK_DIR = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "src")
if SDK_DIR not in sys.path:
    sys.path.insert(0, SDK_DIR)
